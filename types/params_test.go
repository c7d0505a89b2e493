package types

import (
	"errors"
	"strings"
	"testing"

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
