package monetary

import (
	"fmt"

	"github.com/qbind/qbind/u128"
)

// PhaseChange records a gate that passed.
type PhaseChange struct {
	// Epoch is the epoch at whose end the gate passed; To governs Epoch + 1
	// onwards.
	Epoch    uint64
	From, To Phase
}

// AdvanceOutcome summarises the epochs processed by one Advance call.
type AdvanceOutcome struct {
	// Steps is the number of epochs processed (0 in off mode).
	Steps uint64
	// Last is the outcome of the last processed epoch, for metrics; its
	// Credits are nil (they are part of Credits below).
	Last Outcome
	// TotalIssuance is the sum of every processed epoch's issuance.
	TotalIssuance u128.U128
	// Credits is the sum of the credits of every processed epoch, per
	// recipient, in the order of Outcome.Credits (active mode only).
	Credits []Credit
	// PhaseChanges lists the gates that passed, in order.
	PhaseChanges []PhaseChange
}

// Advance processes every epoch from s.NextEpoch() through `through`
// inclusive, as PROTOCOL.md §10 requires when a committed block's epoch jumps
// more than one epoch past the last processed one: the first processed epoch
// (in.Epoch, which must be s.NextEpoch()) gets in.Fees, every later one fees 0.
// Staked, the genesis supply, the burn counter and the validator stakes are
// held constant; in active mode Minted grows by each epoch's issuance, since
// those credits are minted before the next epoch is processed.
//
// The node calls it when the first block of epoch E commits, with through =
// E − 1 and the fees accumulated since the last processed epoch. At most
// MaxAdvanceEpochs epochs per call. On error s is returned unchanged and
// nothing must be applied.
func (e *Engine) Advance(s EpochState, through uint64, in Inputs) (EpochState, AdvanceOutcome, error) {
	if e.mode == ModeOff {
		return s, AdvanceOutcome{Last: Outcome{Mode: ModeOff}}, nil
	}
	if err := s.Validate(); err != nil {
		return s, AdvanceOutcome{}, err
	}
	first := s.NextEpoch()
	if in.Epoch != first {
		return s, AdvanceOutcome{}, fmt.Errorf("%w: inputs are for epoch %d, the next epoch to process is %d",
			ErrEpochOutOfOrder, in.Epoch, first)
	}
	if through < first {
		return s, AdvanceOutcome{}, fmt.Errorf("%w: asked to advance through epoch %d, but epoch %d is the next to process",
			ErrEpochOutOfOrder, through, first)
	}
	if through-first >= MaxAdvanceEpochs {
		return s, AdvanceOutcome{}, fmt.Errorf("%w: %d epochs to process at once (epochs %d..%d), at most %d",
			ErrInvalidInputs, through-first+1, first, through, uint64(MaxAdvanceEpochs))
	}
	if err := in.validate(); err != nil {
		return s, AdvanceOutcome{}, err
	}

	orig := s // returned unchanged on any error
	var ao AdvanceOutcome
	var acc Split // running sums (active mode)
	if e.mode == ModeActive {
		acc.PerValidator = make([]u128.U128, len(in.ValidatorStakes))
	}
	for epoch := first; ; epoch++ {
		in.Epoch = epoch
		next, out, err := e.step(s, &in)
		if err != nil {
			return orig, AdvanceOutcome{}, err
		}
		ao.Steps++
		ao.Last = out
		var ok bool
		if ao.TotalIssuance, ok = ao.TotalIssuance.Add(out.Split.Issuance); !ok {
			return orig, AdvanceOutcome{}, fmt.Errorf("%w: issuance summed over epochs %d..%d", ErrOverflow, first, epoch)
		}
		if out.NextPhase != out.Phase {
			ao.PhaseChanges = append(ao.PhaseChanges, PhaseChange{Epoch: epoch, From: out.Phase, To: out.NextPhase})
		}
		if e.mode == ModeActive {
			if err := acc.add(&out.Split); err != nil {
				return orig, AdvanceOutcome{}, fmt.Errorf("%w: credits summed over epochs %d..%d", err, first, epoch)
			}
			if in.Minted, ok = in.Minted.Add(out.Split.Issuance); !ok {
				return orig, AdvanceOutcome{}, fmt.Errorf("%w: minted supply after epoch %d", ErrOverflow, epoch)
			}
		}
		s = next
		if epoch == through {
			break
		}
		in.Fees = u128.Zero
	}
	if e.mode == ModeActive {
		ao.Credits = acc.credits()
	}
	ao.Last.Credits = nil // apply ao.Credits, which include the last epoch's
	return s, ao, nil
}

// add sums o into sp, recipient by recipient.
func (sp *Split) add(o *Split) error {
	var ok bool
	for _, p := range [...]struct {
		dst *u128.U128
		v   u128.U128
	}{
		{&sp.Issuance, o.Issuance}, {&sp.Validators, o.Validators}, {&sp.Treasury, o.Treasury},
		{&sp.Insurance, o.Insurance}, {&sp.Community, o.Community},
	} {
		if *p.dst, ok = p.dst.Add(p.v); !ok {
			return ErrOverflow
		}
	}
	for i, v := range o.PerValidator {
		if sp.PerValidator[i], ok = sp.PerValidator[i].Add(v); !ok {
			return ErrOverflow
		}
	}
	return nil
}
