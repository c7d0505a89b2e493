package main

import (
	"bytes"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/spf13/cobra"
)

// run executes a freshly constructed command (so no flag state leaks between
// runs) and returns its stdout and error.
func run(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

const recipientHex = "1111111111111111111111111111111111111111111111111111111111111111"

// newTestKey writes a key (standard KDF) and returns the keystore dir.
func newTestKey(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "keys")
	t.Setenv(passphraseEnv, "test passphrase")
	if _, err := run(t, newKeysNewCmd(), "--keystore", dir, "--name", "alice"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func signTx(t *testing.T, dir, network string, extra ...string) map[string]any {
	args := append([]string{"--keystore", dir, "--name", "alice", "--network", network, "--nonce", "7", "--to", recipientHex,
		"--amount", "1000", "--gas-limit", "50000", "--max-fee-per-gas", "2", "--json"}, extra...)
	out, err := run(t, newTxSignCmd(), args...)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("tx sign --json output %q: %v", out, err)
	}
	return res
}

// TestSignedTxVerifiesIndependently re-derives everything from PROTOCOL.md §4
// with circl and the standard library only — none of the project's packages:
// sender, preimage, tx_id and signature must match what `qbind tx sign`
// produced, and the signature must fail under every other network's tag.
func TestSignedTxVerifiesIndependently(t *testing.T) {
	dir := newTestKey(t)
	res := signTx(t, dir, "testnet")
	raw, err := hex.DecodeString(res["raw"].(string))
	if err != nil || len(raw) != 3818 {
		t.Fatalf("raw: %d bytes, %v", len(raw), err)
	}
	// Wire: suite u16 LE ‖ pk[1312] ‖ nonce u64 LE ‖ payload_len u32 LE ‖ payload ‖ sig[2420].
	suite := binary.LittleEndian.Uint16(raw[0:2])
	pk := raw[2:1314]
	nonce := binary.LittleEndian.Uint64(raw[1314:1322])
	plen := binary.LittleEndian.Uint32(raw[1322:1326])
	payload := raw[1326 : 1326+plen]
	sig := raw[1326+plen:]
	if suite != 100 || nonce != 7 || plen != 72 || len(sig) != 2420 {
		t.Fatalf("wire fields: suite %d nonce %d plen %d sig %d", suite, nonce, plen, len(sig))
	}
	// Payload (big-endian): recipient ‖ amount u128 ‖ gas_limit u64 ‖ max_fee u128.
	if hex.EncodeToString(payload[:32]) != recipientHex || binary.BigEndian.Uint64(payload[40:48]) != 1000 ||
		binary.BigEndian.Uint64(payload[48:56]) != 50000 || binary.BigEndian.Uint64(payload[64:72]) != 2 {
		t.Fatalf("payload %x", payload)
	}
	h := sha3.New256()
	h.Write([]byte("QBIND:ACCT:v1"))
	h.Write([]byte{100, 0})
	h.Write(pk)
	sender := h.Sum(nil)
	if hex.EncodeToString(sender) != res["sender"] {
		t.Fatalf("sender %x, CLI says %v", sender, res["sender"])
	}
	preimage := func(scope string) []byte {
		var b bytes.Buffer
		b.WriteString("QBIND:" + scope + ":TX:v1")
		b.Write(sender)
		binary.Write(&b, binary.LittleEndian, nonce)
		binary.Write(&b, binary.LittleEndian, plen)
		b.Write(payload)
		b.Write([]byte{100, 0})
		return b.Bytes()
	}
	id := sha3.Sum256(preimage("TST"))
	if hex.EncodeToString(id[:]) != res["tx_id"] {
		t.Fatalf("tx_id %x, CLI says %v", id, res["tx_id"])
	}
	var pub mldsa44.PublicKey
	if err := pub.UnmarshalBinary(pk); err != nil {
		t.Fatal(err)
	}
	if !mldsa44.Verify(&pub, preimage("TST"), nil, sig) {
		t.Fatal("signature does not verify under the TestNet preimage")
	}
	for _, other := range []string{"DEV", "MAIN"} {
		if mldsa44.Verify(&pub, preimage(other), nil, sig) {
			t.Fatalf("signature verifies under %s", other)
		}
	}
	// And the CLI agrees: valid on testnet, rejected elsewhere.
	if _, err := run(t, newTxDecodeCmd(), "--network", "testnet", res["raw"].(string)); err != nil {
		t.Fatalf("decode on testnet: %v", err)
	}
	for _, other := range []string{"devnet", "mainnet"} {
		out, err := run(t, newTxDecodeCmd(), "--network", other, res["raw"].(string))
		if err == nil || !strings.Contains(out, `"valid": false`) {
			t.Fatalf("decode on %s accepted: %s", other, out)
		}
	}
}

// TestDecodeRejectsEveryByteFlip: flipping any byte of a raw transaction
// makes `qbind tx decode` fail, for every position.
func TestDecodeRejectsEveryByteFlip(t *testing.T) {
	dir := newTestKey(t)
	rawHex := signTx(t, dir, "devnet")["raw"].(string)
	raw, _ := hex.DecodeString(rawHex)
	if _, err := run(t, newTxDecodeCmd(), "--network", "devnet", rawHex); err != nil {
		t.Fatalf("unmodified tx rejected: %v", err)
	}
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x80
		if _, err := run(t, newTxDecodeCmd(), "--network", "devnet", hex.EncodeToString(bad)); err == nil {
			t.Fatalf("flipping byte %d was accepted", i)
		}
	}
}

func TestDecodeMalformedInput(t *testing.T) {
	for _, in := range []string{"", "zz", "00", strings.Repeat("ab", 5000), "6400"} {
		out, err := run(t, newTxDecodeCmd(), "--network", "devnet", in)
		if err == nil {
			t.Errorf("input %q accepted: %s", in, out)
		}
	}
}

func TestKeysShowAndErrors(t *testing.T) {
	dir := newTestKey(t)
	out, err := run(t, newKeysShowCmd(), "--keystore", dir, "--name", "alice", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown["account_id"].(string)) != 64 {
		t.Fatalf("keys show --json: %s", out)
	}
	if res := signTx(t, dir, "devnet"); res["sender"] != shown["account_id"] {
		t.Fatal("signing account differs from the shown account")
	}
	t.Setenv(passphraseEnv, "wrong")
	if _, err := run(t, newKeysShowCmd(), "--keystore", dir, "--name", "alice"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// The passphrase file wins over the environment.
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("test passphrase\n"), 0o600)
	if _, err := run(t, newKeysShowCmd(), "--keystore", dir, "--name", "alice", "--passphrase-file", pf); err != nil {
		t.Fatalf("passphrase file: %v", err)
	}
	// A tampered file is an error.
	path := filepath.Join(dir, "alice.json")
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte(`"ciphertext": "`)) + len(`"ciphertext": "`)
	data[i] ^= 1
	os.WriteFile(path, data, 0o600)
	if _, err := run(t, newKeysShowCmd(), "--keystore", dir, "--name", "alice", "--passphrase-file", pf); err == nil {
		t.Fatal("tampered key file accepted")
	}
	t.Setenv(passphraseEnv, "")
	if _, err := run(t, newKeysNewCmd(), "--keystore", dir, "--name", "bob"); err == nil || !strings.Contains(err.Error(), passphraseEnv) {
		t.Fatalf("missing passphrase: %v", err)
	}
}
