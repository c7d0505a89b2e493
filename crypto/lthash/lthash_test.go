package lthash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	"github.com/qbind/qbind/crypto"
	"pgregory.net/rapid"
)

// state encodes a §4 stored account value: nonce u64 BE ‖ balance u128 BE.
func state(nonce uint64, balance *big.Int) [StateSize]byte {
	var s [StateSize]byte
	binary.BigEndian.PutUint64(s[:8], nonce)
	balance.FillBytes(s[8:])
	return s
}

func acct(b byte) [AccountSize]byte { return [AccountSize]byte(bytes.Repeat([]byte{b}, AccountSize)) }

// Known answers for the BLAKE3 element XOF, published in docs/lthash.md. They
// were computed independently (not from this package) with Node.js 20 and
// @noble/hashes 2.4.0 (blake3 with dkLen 2048, sha3_256), a script that
// encodes the states itself; it agrees on all four values. (Python's hashlib
// has no BLAKE3.)
const (
	katEmpty    = "463c61ad03873aa9e82581205205acc3d3c8346c7037c43e4e241ee529f2dc27"
	katOne      = "30222ab85bb63b3412fafb385a554345f066dc5864130fcc184565f77a74de35"
	katOneFirst = "5f1d2df9e35de84e6329d8a95205552c" // first 16 XOF bytes of the one-account element
	katThree    = "cbcf17d5f65d22bf4a7a4f8a515f70284e63aa07abeb5b0a8b6850791f87eff8"
)

func katAccounts() []Change {
	return []Change{
		{Account: acct(0x01), New: state(1, big.NewInt(1000))},
		{Account: acct(0x02), New: state(0, big.NewInt(5))},
		{Account: acct(0x03), New: state(7, new(big.Int).Lsh(big.NewInt(1), 127))},
	}
}

func TestXOFName(t *testing.T) {
	if XOFName != "blake3" {
		t.Fatalf("XOFName %q", XOFName)
	}
}

func TestTagMatchesCrypto(t *testing.T) {
	if tag != string(crypto.TagLtHash) || inputSize != 71 {
		t.Fatalf("tag %q vs crypto.TagLtHash %q, input %d", tag, crypto.TagLtHash, inputSize)
	}
}

func TestKnownAnswers(t *testing.T) {
	var h Hash
	if got := h.Digest().String(); got != katEmpty {
		t.Fatalf("empty: %s", got)
	}
	if got := crypto.Sum(make([]byte, Size)).String(); got != katEmpty {
		t.Fatalf("empty digest is not SHA3-256 of 2048 zero bytes: %s", got)
	}
	kat := katAccounts()
	if hex := state(1, big.NewInt(1000)); hex != [StateSize]byte{7: 1, 22: 0x03, 23: 0xe8} {
		t.Fatalf("state encoding %x", hex)
	}
	e := Element(kat[0].Account, kat[0].New)
	if got := crypto.Hash(e.Bytes()[:32]).String()[:32]; got != katOneFirst {
		t.Fatalf("element prefix %s", got)
	}
	h.AddAccount(kat[0].Account, kat[0].New)
	if h != e {
		t.Fatal("AddAccount on empty set differs from Element")
	}
	if got := h.Digest().String(); got != katOne {
		t.Fatalf("one account: %s", got)
	}
	for _, c := range kat[1:] {
		h.AddAccount(c.Account, c.New)
	}
	if got := h.Digest().String(); got != katThree {
		t.Fatalf("three accounts: %s", got)
	}
	var u Hash
	u.Update(kat, 2)
	if u != h {
		t.Fatal("Update of three creations differs from AddAccount")
	}
}

func TestLaneEncodingLittleEndian(t *testing.T) {
	b := make([]byte, Size)
	b[0], b[1], b[Size-2], b[Size-1] = 0x01, 0x02, 0xff, 0x7f
	h, err := FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Lane(0) != 0x0201 || h.Lane(Lanes-1) != 0x7fff || h.Lane(1) != 0 {
		t.Fatalf("lanes %#x %#x %#x", h.Lane(0), h.Lane(1), h.Lane(Lanes-1))
	}
}

// TestLaneArithmetic checks the packed (SWAR) lane arithmetic against plain
// uint16 arithmetic lane by lane, including wraparound at 0 and 0xffff.
func TestLaneArithmetic(t *testing.T) {
	lane := rapid.OneOf(rapid.Uint16(), rapid.SampledFrom([]uint16{0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff}))
	rapid.Check(t, func(t *rapid.T) {
		var a, b Hash
		var ab, bb [Size]byte
		av, bv := make([]uint16, Lanes), make([]uint16, Lanes)
		for i := range Lanes {
			av[i], bv[i] = lane.Draw(t, "a"), lane.Draw(t, "b")
			binary.LittleEndian.PutUint16(ab[2*i:], av[i])
			binary.LittleEndian.PutUint16(bb[2*i:], bv[i])
		}
		a.addBytes(&ab)
		b.addBytes(&bb)
		sum, diff, fromBytes := a, a, a
		sum.Add(&b)
		diff.Sub(&b)
		fromBytes.subBytes(&bb)
		for i := range Lanes {
			if a.Lane(i) != av[i] || sum.Lane(i) != av[i]+bv[i] || diff.Lane(i) != av[i]-bv[i] || fromBytes.Lane(i) != av[i]-bv[i] {
				t.Fatalf("lane %d: %#x %#x: sum %#x diff %#x", i, av[i], bv[i], sum.Lane(i), diff.Lane(i))
			}
		}
	})
}

func TestAbsentAccountNeverInSet(t *testing.T) {
	var h Hash
	h.AddAccount(acct(9), [StateSize]byte{})
	h.SubAccount(acct(9), [StateSize]byte{})
	h.Update([]Change{{Account: acct(9)}, {Account: acct(8)}}, 2)
	if !h.IsZero() {
		t.Fatal("an all-zero state changed the set hash")
	}
	if Exists([StateSize]byte{}) || !Exists([StateSize]byte{23: 1}) || !Exists([StateSize]byte{0: 1}) {
		t.Fatal("Exists")
	}
	// The element of a zero state is nonetheless defined and nonzero.
	if e := Element(acct(9), [StateSize]byte{}); e.IsZero() {
		t.Fatal("zero element")
	}
}

func TestFromBytesStrict(t *testing.T) {
	for _, n := range []int{0, 1, Size - 2, Size - 1, Size + 1, 2 * Size} {
		h, err := FromBytes(make([]byte, n))
		if !errors.Is(err, ErrSize) || !h.IsZero() {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	if _, err := FromBytes(nil); !errors.Is(err, ErrSize) {
		t.Fatalf("nil: %v", err)
	}
	var h Hash
	for _, c := range katAccounts() {
		h.AddAccount(c.Account, c.New)
	}
	b := h.Bytes()
	g, err := FromBytes(b)
	if err != nil || g != h {
		t.Fatalf("round trip: %v", err)
	}
	if !bytes.Equal(h.AppendBytes([]byte{0xaa}), append([]byte{0xaa}, b...)) {
		t.Fatal("AppendBytes differs from Bytes")
	}
	if h.Digest() != crypto.Sum(b) {
		t.Fatal("Digest is not SHA3-256(Bytes)")
	}
	b[0] ^= 1 // FromBytes must copy, not alias
	if g != h {
		t.Fatal("FromBytes aliases its input")
	}
}

// genState draws a state that exists with probability ~3/4.
func genState(t *rapid.T, label string) [StateSize]byte {
	if rapid.IntRange(0, 3).Draw(t, label+"_absent") == 0 {
		return [StateSize]byte{}
	}
	var s [StateSize]byte
	binary.BigEndian.PutUint64(s[:8], rapid.Uint64Range(0, 3).Draw(t, label+"_nonce"))
	binary.BigEndian.PutUint64(s[16:], rapid.Uint64().Draw(t, label+"_bal"))
	s[8] = rapid.Byte().Draw(t, label+"_balhi")
	return s
}

// genAccounts draws n distinct account ids from a small alphabet.
func genAccounts(t *rapid.T, n int) [][AccountSize]byte {
	ids := rapid.SliceOfNDistinct(rapid.Uint16(), n, n, rapid.ID).Draw(t, "ids")
	out := make([][AccountSize]byte, n)
	for i, id := range ids {
		binary.LittleEndian.PutUint16(out[i][:], id)
	}
	return out
}

func TestCommutativity(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 12).Draw(t, "n")
		accts := genAccounts(t, n)
		states := make([][StateSize]byte, n)
		for i := range states {
			states[i] = genState(t, "s")
		}
		var a, b Hash
		for i := range accts {
			a.AddAccount(accts[i], states[i])
		}
		perm := rapid.Permutation(indices(n)).Draw(t, "perm")
		for _, i := range perm {
			b.AddAccount(accts[i], states[i])
		}
		if a.Digest() != b.Digest() {
			t.Fatalf("order %v changed the digest", perm)
		}
	})
}

func TestAddThenRemoveIsEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "n")
		accts := genAccounts(t, n)
		states := make([][StateSize]byte, n)
		var h Hash
		for i := range accts {
			states[i] = genState(t, "s")
			h.AddAccount(accts[i], states[i])
		}
		for _, i := range rapid.Permutation(indices(n)).Draw(t, "perm") {
			h.SubAccount(accts[i], states[i])
		}
		if !h.IsZero() || h.Digest().String() != katEmpty {
			t.Fatal("add then remove did not give the empty set")
		}
	})
}

func TestSubOfAbsentElementThenAddRestores(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h Hash
		for _, a := range genAccounts(t, rapid.IntRange(0, 5).Draw(t, "n")) {
			h.AddAccount(a, genState(t, "s"))
		}
		before := h
		a := [AccountSize]byte{31: 0xee} // outside genAccounts' range
		s := genState(t, "x")
		h.SubAccount(a, s)
		if Exists(s) && h == before {
			t.Fatal("subtracting an element did nothing")
		}
		h.AddAccount(a, s)
		if h != before {
			t.Fatal("sub then add did not restore the set hash")
		}
	})
}

// TestUpdateMatchesModel checks Update against a from-scratch recomputation
// over the final state map and against sequential SubAccount/AddAccount.
func TestUpdateMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "n")
		accts := genAccounts(t, n)
		pre := make([][StateSize]byte, n)
		var h, naive Hash
		for i := range accts {
			pre[i] = genState(t, "pre")
			h.AddAccount(accts[i], pre[i])
		}
		naive = h
		var changes []Change
		post := append([][StateSize]byte(nil), pre...)
		for i := range accts {
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0: // untouched
				continue
			case 1: // listed but unchanged
			default:
				post[i] = genState(t, "post")
			}
			changes = append(changes, Change{Account: accts[i], Old: pre[i], New: post[i]})
		}
		changes = rapid.Permutation(changes).Draw(t, "order")
		workers := rapid.IntRange(-1, 9).Draw(t, "workers")
		h.Update(changes, workers)

		for _, c := range changes {
			naive.SubAccount(c.Account, c.Old)
			naive.AddAccount(c.Account, c.New)
		}
		var scratch Hash
		for i := range accts {
			scratch.AddAccount(accts[i], post[i])
		}
		if h != naive || h.Digest() != scratch.Digest() {
			t.Fatalf("Update (%d workers, %d changes) differs from the model", workers, len(changes))
		}
	})
}

func randomChanges(n int, seed byte) []Change {
	cs := make([]Change, n)
	for i := range cs {
		c := &cs[i]
		binary.LittleEndian.PutUint32(c.Account[:], uint32(i))
		c.Account[31] = seed
		binary.BigEndian.PutUint64(c.Old[:8], uint64(i))
		binary.BigEndian.PutUint64(c.Old[16:], uint64(1000+i))
		c.New = c.Old
		c.New[7]++
		switch i % 7 {
		case 3:
			c.Old = [StateSize]byte{} // creation
		case 5:
			c.New = [StateSize]byte{} // deletion
		}
	}
	return cs
}

func TestUpdateParallelEqualsOneWorker(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 101} {
		cs := randomChanges(n, byte(n))
		var base Hash
		base.AddAccount(acct(0x42), state(1, big.NewInt(1)))
		want := base
		want.Update(cs, 1)
		if n > 0 && want == base {
			t.Fatalf("n=%d: update changed nothing", n)
		}
		for w := -1; w <= 8; w++ {
			got := base
			got.Update(cs, w)
			if got != want {
				t.Fatalf("n=%d workers=%d differs from 1 worker", n, w)
			}
		}
	}
}

func TestUpdateDoesNotAllocateWithOneWorker(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	cs := randomChanges(16, 1)
	var h Hash
	h.Update(cs, 1) // warm the pool
	if a := testing.AllocsPerRun(20, func() { h.Update(cs, 1) }); a != 0 {
		t.Fatalf("%v allocations per Update", a)
	}
}

func TestElementDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	x := getHasher()
	defer putHasher(x)
	a, st := acct(5), state(1, big.NewInt(2))
	if n := testing.AllocsPerRun(50, func() { st[0]++; x.element(&a, &st) }); n != 0 {
		t.Fatalf("%v allocations per element", n)
	}
	var h Hash
	h.AddAccount(a, st) // warm the pool
	if n := testing.AllocsPerRun(50, func() { st[0]++; h.AddAccount(a, st) }); n != 0 {
		t.Fatalf("%v allocations per AddAccount", n)
	}
}

func indices(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
