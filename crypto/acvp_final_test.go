package crypto

// Known-answer tests from the final ACVP revision of FIPS 204
// (testdata/acvp/final/, from the NIST ACVTS vectors that the Go standard
// library's FIPS 140 tests use). Unlike circl's older copies, these include
// external-interface, pure groups with context strings: the interface our
// signatures use (PROTOCOL.md §1: pure ML-DSA-44, empty context). They are
// driven through circl's public mldsa44.SignTo / Verify, which are exactly the
// calls behind PrivateKey.Sign* and PublicKey.Verify (sign.go) with the
// context fixed to empty.
//
// What they cannot drive: hedged signing with a given rnd (circl draws rnd from
// crypto/rand; the expected signature is checked by verification instead) and
// the internal-interface groups with an external μ (circl has no μ entry
// point); both are counted and reported, never silently passed.

import (
	"bytes"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// acvpFinalGroup is the union of the fields of the final sigGen / sigVer groups.
type acvpFinalGroup struct {
	TgID               int    `json:"tgId"`
	TestType           string `json:"testType"`
	Deterministic      bool   `json:"deterministic"`
	SignatureInterface string `json:"signatureInterface"`
	PreHash            string `json:"preHash"`
	ExternalMu         bool   `json:"externalMu"`
	Tests              []struct {
		TcID      int     `json:"tcId"`
		Sk        acvpHex `json:"sk"`
		Pk        acvpHex `json:"pk"`
		Message   acvpHex `json:"message"`
		Context   acvpHex `json:"context"`
		Rnd       acvpHex `json:"rnd"`
		Mu        acvpHex `json:"mu"`
		Signature acvpHex `json:"signature"`
	} `json:"tests"`
}

// kind classifies a group: "pure" (external interface, no pre-hash) or
// "internal-mu"; any other shape fails the test, so a new kind of group in a
// regenerated file is handled deliberately.
func (g *acvpFinalGroup) kind(t *testing.T) string {
	t.Helper()
	if g.TestType != "AFT" {
		t.Fatalf("tgId %d: unexpected testType %q", g.TgID, g.TestType)
	}
	switch {
	case g.SignatureInterface == "external" && g.PreHash == "pure":
		return "pure"
	case g.SignatureInterface == "internal" && g.ExternalMu:
		return "internal-mu"
	}
	t.Fatalf("tgId %d: signatureInterface %q preHash %q externalMu %v: no test for this kind of group",
		g.TgID, g.SignatureInterface, g.PreHash, g.ExternalMu)
	return ""
}

func acvpSecretKey(t *testing.T, tcID int, raw []byte) (*mldsa44.PrivateKey, *mldsa44.PublicKey) {
	t.Helper()
	var sk mldsa44.PrivateKey
	if err := sk.UnmarshalBinary(raw); err != nil {
		t.Fatalf("tcId %d: NIST secret key rejected: %v", tcID, err)
	}
	if !bytes.Equal(sk.Bytes(), raw) {
		t.Fatalf("tcId %d: secret key does not re-encode byte-exactly", tcID)
	}
	return &sk, sk.Public().(*mldsa44.PublicKey)
}

func TestACVPFinalMLDSA44SigGen(t *testing.T) {
	s := acvpLoad(t, "final/ML-DSA-sigGen-FIPS204")
	n := acvpCounts{}
	for _, raw := range s.groups {
		var g acvpFinalGroup
		s.group(t, raw, &g, "ML-DSA-44")
		kind := g.kind(t)
		for _, tc := range g.Tests {
			var want struct {
				Signature acvpHex `json:"signature"`
			}
			s.result(t, tc.TcID, &want)
			if len(want.Signature) != MLDSA44SignatureSize {
				t.Fatalf("tcId %d: signature of %d bytes", tc.TcID, len(want.Signature))
			}
			sk, pk := acvpSecretKey(t, tc.TcID, tc.Sk)
			switch {
			case kind == "internal-mu":
				n["ML-DSA-44 sigGen internal, external μ (not drivable: key decode only)"]++
			case g.Deterministic:
				sig := make([]byte, MLDSA44SignatureSize)
				if err := mldsa44.SignTo(sk, tc.Message, tc.Context, false, sig); err != nil {
					t.Fatalf("tcId %d: %v", tc.TcID, err)
				}
				if !bytes.Equal(sig, want.Signature) {
					t.Fatalf("tcId %d: deterministic pure signature differs from the NIST vector", tc.TcID)
				}
				acvpContextBinds(t, tc.TcID, pk, tc.Message, tc.Context, sig)
				n["ML-DSA-44 sigGen external/pure deterministic (known answer)"]++
			default:
				if len(tc.Rnd) != 32 {
					t.Fatalf("tcId %d: hedged vector without a 32-byte rnd", tc.TcID)
				}
				acvpContextBinds(t, tc.TcID, pk, tc.Message, tc.Context, want.Signature)
				n["ML-DSA-44 sigGen external/pure hedged (expected signature verifies)"]++
			}
		}
	}
	n.requireRun(t,
		"ML-DSA-44 sigGen external/pure deterministic (known answer)",
		"ML-DSA-44 sigGen external/pure hedged (expected signature verifies)",
		"ML-DSA-44 sigGen internal, external μ (not drivable: key decode only)")
}

// acvpContextBinds checks that a valid pure signature verifies under its
// context and nowhere else: not under another context, and (for a non-empty
// context) not with our empty-context PublicKey.Verify.
func acvpContextBinds(t *testing.T, tcID int, pk *mldsa44.PublicKey, msg, ctx, sig []byte) {
	t.Helper()
	if !mldsa44.Verify(pk, msg, ctx, sig) {
		t.Fatalf("tcId %d: a NIST pure signature does not verify under its context", tcID)
	}
	if mldsa44.Verify(pk, msg, append(bytes.Clone(ctx), 0), sig) {
		t.Fatalf("tcId %d: signature verifies under a different context", tcID)
	}
	ours, err := ParsePublicKey(SuiteMLDSA44, pk.Bytes())
	if err != nil {
		t.Fatalf("tcId %d: %v", tcID, err)
	}
	if got := ours.Verify(msg, sig); got != (len(ctx) == 0) {
		t.Fatalf("tcId %d: PublicKey.Verify (empty context) = %v with a %d-byte signing context", tcID, got, len(ctx))
	}
}

func TestACVPFinalMLDSA44SigVer(t *testing.T) {
	s := acvpLoad(t, "final/ML-DSA-sigVer-FIPS204")
	n := acvpCounts{}
	for _, raw := range s.groups {
		var g acvpFinalGroup
		s.group(t, raw, &g, "ML-DSA-44")
		kind := g.kind(t)
		for _, tc := range g.Tests {
			var want struct {
				TestPassed *bool `json:"testPassed"`
			}
			s.result(t, tc.TcID, &want)
			if want.TestPassed == nil {
				t.Fatalf("tcId %d: no testPassed", tc.TcID)
			}
			var pk mldsa44.PublicKey
			if err := pk.UnmarshalBinary(tc.Pk); err != nil {
				t.Fatalf("tcId %d: NIST public key rejected: %v", tc.TcID, err)
			}
			if kind == "internal-mu" {
				n["ML-DSA-44 sigVer internal, external μ (not drivable: key decode only)"]++
				continue
			}
			if got := mldsa44.Verify(&pk, tc.Message, tc.Context, tc.Signature); got != *want.TestPassed {
				t.Fatalf("tcId %d: Verify = %v, NIST testPassed = %v", tc.TcID, got, *want.TestPassed)
			}
			if len(tc.Context) == 0 {
				ours, err := ParsePublicKey(SuiteMLDSA44, tc.Pk)
				if err != nil {
					t.Fatalf("tcId %d: %v", tc.TcID, err)
				}
				if ours.Verify(tc.Message, tc.Signature) != *want.TestPassed {
					t.Fatalf("tcId %d: PublicKey.Verify disagrees with NIST testPassed = %v", tc.TcID, *want.TestPassed)
				}
			}
			n["ML-DSA-44 sigVer external/pure (known answer)"]++
		}
	}
	n.requireRun(t,
		"ML-DSA-44 sigVer external/pure (known answer)",
		"ML-DSA-44 sigVer internal, external μ (not drivable: key decode only)")
}
