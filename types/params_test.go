package types

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
)

// TestCheckProfileTestNetAlpha: testnet-alpha runs vm_v0 (spec §1.3) with
// MIN_GAS_PRICE > 0 (§4: > 0 on TestNet); v0 payloads and the burn-only
// split stay allowed there, and devnet keeps NonceOnly with a zero price.
func TestCheckProfileTestNetAlpha(t *testing.T) {
	ok := func(what string, p ExecParams, prof Profile) {
		t.Helper()
		if err := p.CheckProfile(prof); err != nil {
			t.Errorf("%s on %s: %v", what, prof, err)
		}
	}
	refused := func(what string, p ExecParams, prof Profile, want string) {
		t.Helper()
		err := p.CheckProfile(prof)
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s on %s: %v, want ErrInvalidParams naming %q", what, prof, err, want)
		}
	}

	alpha := mustParams(t, ProfileTestNetAlpha)
	if alpha.Engine != EngineVMv0 || !alpha.GasEnabled || alpha.MinGasPrice.IsZero() || !alpha.AllowV0Payload || alpha.BurnBps != 10000 {
		t.Fatalf("testnet-alpha defaults %+v", alpha)
	}
	ok("defaults", alpha, ProfileTestNetAlpha)
	noV0 := alpha
	noV0.AllowV0Payload = false
	ok("v0 payloads off", noV0, ProfileTestNetAlpha)
	split := alpha
	split.BurnBps, split.ProposerBps = 5000, 5000
	ok("50/50 split", split, ProfileTestNetAlpha)

	zeroPrice := alpha
	zeroPrice.MinGasPrice = u128.Zero
	refused("MIN_GAS_PRICE 0", zeroPrice, ProfileTestNetAlpha, "MIN_GAS_PRICE > 0")
	nonceOnly := alpha
	nonceOnly.Engine, nonceOnly.GasEnabled, nonceOnly.MinGasPrice = EngineNonceOnly, false, u128.Zero
	refused("nonce_only with gas off", nonceOnly, ProfileTestNetAlpha, "vm_v0")
	nonceOnlyGas := alpha
	nonceOnlyGas.Engine = EngineNonceOnly
	refused("nonce_only with gas on", nonceOnlyGas, ProfileTestNetAlpha, "vm_v0")

	// devnet is unchanged: its own defaults are NonceOnly, gas off, price 0.
	ok("defaults", mustParams(t, ProfileDevNet), ProfileDevNet)
	ok("testnet-alpha defaults", alpha, ProfileDevNet)
	// beta and mainnet keep all their rules.
	for _, prof := range []Profile{ProfileTestNetBeta, ProfileMainNet} {
		refused("testnet-alpha defaults", alpha, prof, "v0 payloads")
		refused("MIN_GAS_PRICE 0", func() ExecParams { p := mustParams(t, prof); p.MinGasPrice = u128.Zero; return p }(), prof, "MIN_GAS_PRICE > 0")
	}
}

// TestMaxPayloadBytesBound: MAX_PAYLOAD_BYTES is capped so that a proposal
// with a full payload and every other part at its largest still decodes.
func TestMaxPayloadBytesBound(t *testing.T) {
	if MaxPayloadBytesLimit <= 4<<20 {
		t.Fatalf("limit %d is below the 4 MiB default", MaxPayloadBytesLimit)
	}
	for _, prof := range []Profile{ProfileDevNet, ProfileTestNetAlpha, ProfileTestNetBeta, ProfileMainNet} {
		p := mustParams(t, prof)
		p.MaxPayloadBytes = MaxPayloadBytesLimit
		if err := p.CheckProfile(prof); err != nil {
			t.Fatalf("%s: MAX_PAYLOAD_BYTES at the limit: %v", prof, err)
		}
		if _, err := DecodeExecParams(p.Encode()); err != nil {
			t.Fatalf("%s: MAX_PAYLOAD_BYTES at the limit: %v", prof, err)
		}
		for _, over := range []uint32{MaxPayloadBytesLimit + 1, MaxProposalBytes, 16 << 20} {
			p.MaxPayloadBytes = over
			err := p.CheckProfile(prof)
			if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), strconv.Itoa(MaxPayloadBytesLimit)) {
				t.Fatalf("%s: MAX_PAYLOAD_BYTES %d: %v, want ErrInvalidParams naming the maximum %d", prof, over, err, MaxPayloadBytesLimit)
			}
			if _, err := DecodeExecParams(p.Encode()); !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("%s: genesis with MAX_PAYLOAD_BYTES %d decoded: %v", prof, over, err)
			}
		}
	}

	// A proposal whose payload is exactly MaxPayloadBytesLimit encoded bytes
	// (as the DAG counts them: count ‖ certificates) and whose other parts
	// are all at their largest is exactly MaxProposalBytes and decodes; one
	// byte more does not.
	p := maxOverheadProposal()
	empty := len(p.Encode())
	if empty != MaxProposalOverhead+4 {
		t.Fatalf("largest proposal without payload certificates is %d bytes, MaxProposalOverhead+4 = %d", empty, MaxProposalOverhead+4)
	}
	p.Payload = payloadOfSize(t, MaxPayloadBytesLimit)
	size := 4
	for _, c := range p.Payload {
		size += c.EncodedSize()
	}
	if size != MaxPayloadBytesLimit {
		t.Fatalf("payload of %d bytes, want %d", size, MaxPayloadBytesLimit)
	}
	b := p.Encode()
	if len(b) != MaxProposalBytes {
		t.Fatalf("largest proposal is %d bytes, want MaxProposalBytes %d", len(b), MaxProposalBytes)
	}
	if _, err := DecodeProposal(b); err != nil {
		t.Fatalf("largest valid-genesis proposal does not decode: %v", err)
	}
	// one byte more: one more bitmap byte in a certificate with room for it
	for _, c := range p.Payload {
		if len(c.Signers) < MaxBitmapBytes {
			c.Signers = append(c.Signers, 0)
			break
		}
	}
	if b := p.Encode(); len(b) != MaxProposalBytes+1 {
		t.Fatalf("grown proposal is %d bytes", len(b))
	} else if _, err := DecodeProposal(b); !errors.Is(err, ErrMessageDecode) {
		t.Fatalf("proposal over MaxProposalBytes: %v", err)
	}
}

// maxOverheadProposal returns a proposal without payload certificates whose
// other parts have their largest decodable size: MaxValidators signers in
// every QC and TC, a last TC and a SyncInfo TC.
func maxOverheadProposal() *Proposal {
	sig := make([]byte, crypto.MLDSA44SignatureSize)
	full := NewBitmap(MaxValidators)
	sigs := make([][]byte, MaxValidators)
	views := make([]uint64, MaxValidators)
	for i := range MaxValidators {
		full.Set(i)
		sigs[i] = sig
	}
	qc := QC{View: 7, BlockID: BlockID{7}, Signers: full, Signatures: sigs}
	tc := &TC{View: 8, Signers: full, HighQCViews: views, Signatures: sigs, HighQC: qc}
	return &Proposal{Header: BlockHeader{Version: BlockVersion, View: 9}, Justify: qc, LastTC: tc,
		Sync: SyncInfo{HighQC: qc, HighTC: tc}, Signature: sig}
}

// payloadOfSize returns at most MaxPayloadCerts certificates whose encoded
// payload (count ‖ certificates) is exactly size bytes. A certificate is
// BatchHeaderSize + 4 + b + 4 + 2420·k bytes for a bitmap of b ≤ 4 bytes and
// k ≤ 8b signatures (the decoder needs no quorum).
func payloadOfSize(t *testing.T, size int) []*BatchCertificate {
	const base = BatchHeaderSize + 4 + 4
	const sigSize = crypto.MLDSA44SignatureSize
	for n := 1; n <= MaxPayloadCerts; n++ {
		rest := size - 4 - n*base // = Σb + sigSize·Σk
		for bSum := 0; bSum <= n*MaxBitmapBytes && bSum <= rest; bSum++ {
			if (rest-bSum)%sigSize != 0 {
				continue
			}
			kSum := (rest - bSum) / sigSize
			if kSum > n*MaxValidators || (kSum+7)/8 > bSum {
				continue
			}
			certs := make([]*BatchCertificate, n)
			for i := range certs {
				k := min(kSum, MaxValidators)
				kSum -= k
				b := (k + 7) / 8
				bSum -= b
				certs[i] = &BatchCertificate{Header: BatchHeader{Seq: uint64(i)}, Signers: make(Bitmap, b)}
				for j := range k {
					certs[i].Signers.Set(j)
					certs[i].Signatures = append(certs[i].Signatures, make([]byte, sigSize))
				}
			}
			// spread the remaining bitmap bytes (zero bytes: no signers)
			for _, c := range certs {
				extra := min(bSum, MaxBitmapBytes-len(c.Signers))
				c.Signers = append(c.Signers, make(Bitmap, extra)...)
				bSum -= extra
			}
			if bSum != 0 {
				t.Fatalf("payloadOfSize(%d): %d bitmap bytes left", size, bSum)
			}
			return certs
		}
	}
	t.Fatalf("no payload of %d bytes with at most %d certificates", size, MaxPayloadCerts)
	return nil
}
