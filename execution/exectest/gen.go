package exectest

import (
	"math"

	"pgregory.net/rapid"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Case is a generated genesis state, parameter set and block sequence.
type Case struct {
	Env     execution.Env
	Genesis map[types.AccountID]types.Account
	Blocks  []execution.Block
}

// NumRaw is the number of key-less accounts (recipients only).
const NumRaw = 4

// pick draws an account: index 0 and raw 0 are hot.
func pick(t *rapid.T, label string) types.AccountID {
	switch rapid.IntRange(0, 9).Draw(t, label+"_kind") {
	case 7, 8:
		return Account(0) // hot keyed account
	case 9:
		return RawID(0) // hot key-less account
	case 6:
		return RawID(rapid.IntRange(0, NumRaw-1).Draw(t, label+"_raw"))
	}
	return Account(rapid.IntRange(0, PoolSize-1).Draw(t, label+"_key"))
}

var bound = u128.U128{Hi: 1 << 63} // 2^127, genesis's bound on total supply

func amount(t *rapid.T, label string) u128.U128 {
	switch rapid.IntRange(0, 6).Draw(t, label+"_kind") {
	case 5:
		return u128.Zero
	case 0, 1, 2:
		return u128.From64(rapid.Uint64Range(0, 2_000_000).Draw(t, label))
	case 3:
		return u128.U128{Hi: rapid.Uint64Range(0, 1<<40).Draw(t, label+"_hi"), Lo: rapid.Uint64().Draw(t, label+"_lo")}
	case 4: // near 2^127
		v, _ := bound.Sub(u128.From64(rapid.Uint64Range(1, 1_000_000).Draw(t, label)))
		return v
	}
	return u128.Max
}

var gasLimits = []uint64{0, 20_999, 21_000, 37_351, 37_352, 50_000, 1 << 20, math.MaxUint64}

func maxFee(t *rapid.T, min u128.U128) u128.U128 {
	switch rapid.IntRange(0, 7).Draw(t, "fee_kind") {
	case 0, 1:
		return min
	case 2:
		v, _ := min.Add(u128.From64(rapid.Uint64Range(1, 1000).Draw(t, "fee")))
		return v
	case 3:
		v, _ := min.Sub(u128.From64(1)) // below the minimum (wraps to 2^128−1 when min is 0)
		return v
	case 4:
		return u128.U128{Hi: rapid.Uint64Range(1, 1<<50).Draw(t, "fee_hi")} // × gas_limit overflows u128
	case 5:
		return u128.From64(rapid.Uint64().Draw(t, "fee64"))
	case 6:
		return u128.Zero
	}
	return u128.Max
}

// GenParams draws execution parameters: mostly vm_v0 with gas, sometimes
// nonce_only (gas on or off); a block gas limit that small blocks exceed;
// v0 allowed or not; any fee split.
func GenParams(t *rapid.T) types.ExecParams {
	p := Params()
	if rapid.IntRange(0, 5).Draw(t, "nonce_only") == 5 {
		p.Engine = types.EngineNonceOnly
		p.GasEnabled = rapid.Bool().Draw(t, "gas")
	}
	p.BlockGasLimit = rapid.SampledFrom([]uint64{30_000_000, 1_000_000, 400_000, 100_000, 21_000}).Draw(t, "block_gas_limit")
	p.MinGasPrice = u128.From64(rapid.Uint64Range(0, 3).Draw(t, "min_gas_price"))
	p.AllowV0Payload = rapid.Bool().Draw(t, "allow_v0")
	p.BurnBps = uint16(rapid.SampledFrom([]int{5000, 5000, 10000, 0, rapid.IntRange(0, 10000).Draw(t, "bps")}).Draw(t, "burn_bps"))
	p.ProposerBps = 10000 - p.BurnBps
	return p
}

// GenCase draws a full case. Features: hot accounts (keyed and key-less),
// self-transfers, proposers whose reward account also sends, nonce gaps and
// inversions, balances near 2^127 (total supply stays below it, as genesis
// guarantees), gas_limit × max_fee_per_gas overflowing u128, v0 payloads,
// blocks over the gas limit, malformed entries (undecodable bytes and wrong
// payload lengths), repeated tx_ids (also with different signature bytes)
// and one sender's nonce twice with different payloads.
func GenCase(t *rapid.T) *Case {
	c := &Case{Genesis: map[types.AccountID]types.Account{}}
	c.Env.Params = GenParams(t)
	rewards := make([]types.AccountID, rapid.IntRange(1, 4).Draw(t, "validators"))
	for i := range rewards {
		rewards[i] = pick(t, "reward")
	}
	c.Env.Validators = Validators(rewards)

	// Genesis: every account small or mid-sized; one whale may take the
	// supply up to just below 2^127.
	var supply u128.U128
	all := make([]types.AccountID, 0, PoolSize+NumRaw)
	for i := range PoolSize {
		all = append(all, Account(i))
	}
	for i := range NumRaw {
		all = append(all, RawID(i))
	}
	for _, id := range all {
		var a types.Account
		a.Nonce = rapid.SampledFrom([]uint64{0, 0, 1, 5}).Draw(t, "genesis_nonce")
		switch rapid.IntRange(0, 4).Draw(t, "genesis_kind") { // 4: balance 0
		case 0, 1:
			a.Balance = u128.From64(rapid.Uint64Range(0, 1<<40).Draw(t, "genesis_small"))
		case 2, 3:
			a.Balance = u128.U128{Hi: rapid.Uint64Range(0, 1<<32).Draw(t, "genesis_hi"), Lo: rapid.Uint64().Draw(t, "genesis_lo")}
		}
		supply, _ = supply.Add(a.Balance)
		c.Genesis[id] = a
	}
	if rapid.Bool().Draw(t, "whale") {
		id := all[rapid.IntRange(0, len(all)-1).Draw(t, "whale_id")]
		a := c.Genesis[id]
		room, _ := bound.Sub(supply)
		room, _ = room.Sub(u128.From64(rapid.Uint64Range(1, 1000).Draw(t, "whale_gap")))
		a.Balance, _ = a.Balance.Add(room)
		c.Genesis[id] = a
	}

	next := map[int]uint64{} // a plausible next nonce per pool key
	for i := range PoolSize {
		next[i] = c.Genesis[Account(i)].Nonce
	}
	nblocks := rapid.IntRange(1, 3).Draw(t, "blocks")
	for h := range nblocks {
		var raws [][]byte
		ntx := rapid.IntRange(0, 48).Draw(t, "txs")
		for range ntx {
			raws = append(raws, genRaw(t, &c.Env.Params, raws, next))
		}
		c.Blocks = append(c.Blocks, execution.Block{
			Height:   uint64(h + 1),
			Proposer: uint16(rapid.IntRange(0, len(rewards)-1).Draw(t, "proposer")),
			Entries:  Entries(raws),
		})
	}
	return c
}

func genRaw(t *rapid.T, p *types.ExecParams, prev [][]byte, next map[int]uint64) []byte {
	// rapid favours small draws (and shrinks towards them): 0 is the
	// ordinary case everywhere below.
	kind := rapid.IntRange(0, 19).Draw(t, "entry_kind")
	switch {
	case kind == 19: // undecodable bytes
		return rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "garbage")
	case kind == 18 && len(prev) > 0: // exact repeat: same tx_id
		return prev[rapid.IntRange(0, len(prev)-1).Draw(t, "repeat")]
	case kind == 17 && len(prev) > 0: // same tx_id, other signature bytes (or a truncated entry)
		r := append([]byte(nil), prev[rapid.IntRange(0, len(prev)-1).Draw(t, "resign")]...)
		if len(r) > 0 {
			r[len(r)-1] ^= 0x5A
		}
		return r
	}
	s := rapid.IntRange(0, PoolSize-1).Draw(t, "sender")
	if rapid.IntRange(0, 2).Draw(t, "hot_sender") == 2 {
		s = 0
	}
	sender := Account(s)
	to := pick(t, "recipient")
	if rapid.IntRange(0, 7).Draw(t, "self") == 7 {
		to = sender
	}
	// Nonce: mostly the next one; gaps, repeats and inversions otherwise.
	nonce := next[s]
	switch rapid.IntRange(0, 7).Draw(t, "nonce_kind") {
	case 7:
		nonce += rapid.Uint64Range(1, 3).Draw(t, "gap")
	case 6:
		if nonce > 0 {
			nonce--
		}
	case 5:
		nonce = rapid.Uint64Range(0, 8).Draw(t, "nonce")
	default:
		next[s]++
	}
	var payload []byte
	switch rapid.IntRange(0, 9).Draw(t, "payload_kind") {
	case 8:
		payload = V0(to, amount(t, "amount"))
	case 9: // wrong length: malformed, decodes
		payload = rapid.SliceOfN(rapid.Byte(), 0, 80).Filter(func(b []byte) bool {
			return len(b) != types.TransferV1Size && len(b) != types.TransferV0Size
		}).Draw(t, "bad_payload")
	default:
		gl := uint64(50_000)
		if rapid.IntRange(0, 2).Draw(t, "odd_gas_limit") == 2 {
			gl = rapid.SampledFrom(gasLimits).Draw(t, "gas_limit")
		}
		payload = V1(to, amount(t, "amount"), gl, maxFee(t, p.MinGasPrice))
	}
	return Raw(s, nonce, payload, rapid.Byte().Draw(t, "sig"))
}
