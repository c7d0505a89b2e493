package monetary

import (
	"fmt"

	"github.com/qbind/qbind/u128"
)

// EpochState is the consensus-tracked monetary state after the last processed
// epoch. The node persists it, hashes its encoding into the exec digest and
// puts it in snapshot metadata.
//
// Timing: the state after processing epoch e is what holds while epoch e + 1
// is in progress. Its Phase is therefore the phase that governs epoch e + 1:
// the result of the gates evaluated at the end of e. RInfBps, FeeCoverageBps,
// StakeRatioBps and Issuance are e's values, computed under the phase that
// governed e (the previous state's Phase).
type EpochState struct {
	// Started is false only in the genesis state, before any epoch has been
	// processed; the first processed epoch then uses ema = fees and no
	// Δ-limit.
	Started bool
	// Epoch is the last processed epoch (0 while !Started).
	Epoch uint64
	// Phase governs the epoch after Epoch (see the type comment).
	Phase Phase
	// EMAFees is the exponential moving average of fees per epoch.
	EMAFees u128.U128
	// RInfBps is the annual inflation rate chosen for Epoch, at most
	// maxCapBps (2,000).
	RInfBps uint32
	// FeeCoverageBps = smoothed annual fees / (staked × base target), in
	// bps, saturating at 2^64 − 1.
	FeeCoverageBps uint64
	// StakeRatioBps = staked / circulating supply in bps, at most 10,000.
	StakeRatioBps uint32
	// Issuance is the amount issued for Epoch (credited only in active mode).
	Issuance u128.U128
}

// GenesisState is the state before the first epoch: Bootstrap, nothing
// processed, everything zero.
func GenesisState() EpochState { return EpochState{Phase: PhaseBootstrap} }

// NextEpoch is the epoch the next call to Next must process: 0 from the
// genesis state, Epoch + 1 afterwards.
func (s EpochState) NextEpoch() uint64 {
	if !s.Started {
		return 0
	}
	return s.Epoch + 1
}

// Validate rejects states the engine can never produce.
func (s EpochState) Validate() error {
	if !s.Phase.Valid() {
		return fmt.Errorf("%w: unknown phase %d", ErrInvalidState, uint8(s.Phase))
	}
	if !s.Started {
		if s != GenesisState() {
			return fmt.Errorf("%w: a state with no processed epoch must be all zero in bootstrap", ErrInvalidState)
		}
		return nil
	}
	// The engine's rate is at most max(cap in force, previous rate) (see
	// step), so from any valid parameters it never exceeds maxCapBps, the
	// largest cap Params.Validate allows.
	if s.RInfBps > maxCapBps {
		return fmt.Errorf("%w: r_inf %d bps above %d bps, the highest cap valid parameters allow",
			ErrInvalidState, s.RInfBps, maxCapBps)
	}
	if s.StakeRatioBps > BpsDenominator {
		return fmt.Errorf("%w: stake ratio %d bps above 100 %%", ErrInvalidState, s.StakeRatioBps)
	}
	if s.Phase >= PhaseTransition && s.Epoch < TransitionGateEpoch {
		return fmt.Errorf("%w: phase %s at epoch %d, before its time gate %d", ErrInvalidState, s.Phase, s.Epoch, TransitionGateEpoch)
	}
	if s.Phase == PhaseMature && s.Epoch < MatureGateEpoch {
		return fmt.Errorf("%w: phase %s at epoch %d, before its time gate %d", ErrInvalidState, s.Phase, s.Epoch, MatureGateEpoch)
	}
	if s.Epoch == ^uint64(0) {
		return fmt.Errorf("%w: epoch counter exhausted", ErrInvalidState)
	}
	return nil
}

// Inputs are what the node knows at the end of an epoch.
type Inputs struct {
	// Epoch is the epoch being processed; it must be state.NextEpoch().
	Epoch uint64
	// Fees is the total of the fees paid by the transactions executed in the
	// epoch (gross: before the burn / proposer split).
	Fees u128.U128
	// Staked is the total stake securing the chain.
	Staked u128.U128
	// GenesisSupply, Minted and TotalBurned give the circulating supply:
	// GenesisSupply + Minted − TotalBurned. Minted is what active mode has
	// credited so far (0 in shadow mode); TotalBurned is the chain's burn
	// counter.
	GenesisSupply u128.U128
	Minted        u128.U128
	TotalBurned   u128.U128
	// ValidatorStakes is the stake of each validator, in validator-index
	// order, used to split the validators' share. At least one, at most
	// MaxValidators, with a positive sum. The slice is only read.
	ValidatorStakes []u128.U128
}

func (in *Inputs) validate() error {
	if len(in.ValidatorStakes) == 0 {
		return fmt.Errorf("%w: no validator stakes to split the validators' share", ErrInvalidInputs)
	}
	if len(in.ValidatorStakes) > MaxValidators {
		return fmt.Errorf("%w: %d validators, at most %d", ErrInvalidInputs, len(in.ValidatorStakes), MaxValidators)
	}
	positive := false
	for _, st := range in.ValidatorStakes {
		if !st.IsZero() {
			positive = true
			break
		}
	}
	if !positive {
		return fmt.Errorf("%w: every validator stake is zero", ErrInvalidInputs)
	}
	// total_burned ≤ genesis supply + minted, computed without overflow.
	if in.TotalBurned.Cmp(in.GenesisSupply) > 0 {
		rest, _ := in.TotalBurned.Sub(in.GenesisSupply)
		if rest.Cmp(in.Minted) > 0 {
			return fmt.Errorf("%w: total burned %s exceeds genesis supply %s + minted %s",
				ErrInvalidInputs, in.TotalBurned, in.GenesisSupply, in.Minted)
		}
	}
	return nil
}
