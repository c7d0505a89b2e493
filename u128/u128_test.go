package u128

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

func genU128() *rapid.Generator[U128] {
	return rapid.Custom(func(t *rapid.T) U128 {
		return U128{Hi: rapid.Uint64().Draw(t, "hi"), Lo: rapid.Uint64().Draw(t, "lo")}
	})
}

// TestArithmeticMatchesBig checks every operation against math/big, including
// the overflow flags.
func TestArithmeticMatchesBig(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genU128().Draw(t, "a"), genU128().Draw(t, "b")
		A, B := a.Big(), b.Big()

		sum, ok := a.Add(b)
		want := new(big.Int).Add(A, B)
		if ok != (want.Cmp(two128) < 0) || (ok && sum.Big().Cmp(want) != 0) {
			t.Fatalf("Add(%v,%v) = %v,%v want %v", a, b, sum, ok, want)
		}
		diff, ok := a.Sub(b)
		want = new(big.Int).Sub(A, B)
		if ok != (want.Sign() >= 0) || (ok && diff.Big().Cmp(want) != 0) {
			t.Fatalf("Sub(%v,%v) = %v,%v want %v", a, b, diff, ok, want)
		}
		prod, ok := a.Mul(b)
		want = new(big.Int).Mul(A, B)
		if ok != (want.Cmp(two128) < 0) || (ok && prod.Big().Cmp(want) != 0) {
			t.Fatalf("Mul(%v,%v) = %v,%v want %v", a, b, prod, ok, want)
		}
		if c := a.Cmp(b); c != A.Cmp(B) {
			t.Fatalf("Cmp(%v,%v) = %d", a, b, c)
		}
		d := rapid.Uint64Range(1, ^uint64(0)).Draw(t, "d")
		q, r := a.Div64(d)
		wq, wr := new(big.Int).QuoRem(A, new(big.Int).SetUint64(d), new(big.Int))
		if q.Big().Cmp(wq) != 0 || r != wr.Uint64() {
			t.Fatalf("Div64(%v,%d) = %v,%d want %v,%v", a, d, q, r, wq, wr)
		}
		p, err := Parse(a.String())
		if err != nil || p != a {
			t.Fatalf("Parse(String(%v)) = %v, %v", a, p, err)
		}
		var be, le [16]byte
		a.PutBE(be[:])
		a.PutLE(le[:])
		if FromBE(be[:]) != a || FromLE(le[:]) != a {
			t.Fatalf("byte round trip of %v", a)
		}
		for i := range 16 {
			if be[i] != le[15-i] {
				t.Fatalf("BE and LE of %v are not reverses", a)
			}
		}
	})
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "-1", "+1", "1e3", "0x10", " 1", "340282366920938463463374607431768211456"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if v, err := Parse("340282366920938463463374607431768211455"); err != nil || v != Max {
		t.Errorf("Parse(max) = %v, %v", v, err)
	}
}
