package monetary

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is); the wrapping message names the field and the
// value that was refused.
var (
	// ErrInvalidParams: a policy parameter is outside its governance range
	// or the parameters contradict each other. Raised by Params.Validate and
	// New; a node must refuse to start with such a genesis.
	ErrInvalidParams = errors.New("monetary: invalid policy parameters")

	// ErrInvalidInputs: the epoch inputs handed to the engine are impossible
	// (more burned than ever existed, no validators, too many validators).
	// These come from the node's own state, so this is a broken invariant of
	// the caller: halt rather than skip the epoch.
	ErrInvalidInputs = errors.New("monetary: invalid epoch inputs")

	// ErrInvalidState: an epoch state the engine can never produce (unknown
	// phase, a rate above 100 %, a phase reached before its time gate, …).
	ErrInvalidState = errors.New("monetary: invalid epoch state")

	// ErrEpochOutOfOrder: the inputs are not for the epoch right after the
	// last processed one. Epochs are processed once each, in order, without
	// gaps (use Advance to process elapsed epochs).
	ErrEpochOutOfOrder = errors.New("monetary: epoch out of order")

	// ErrOverflow: an amount the engine must return does not fit in u128
	// (only reachable by aggregating many epochs, or minting past 2^128 − 1).
	ErrOverflow = errors.New("monetary: amount exceeds u128")

	// ErrMalformedState: the bytes are not a canonical encoding of a valid
	// epoch state (DecodeEpochState). It is returned together with the codec
	// or validation error that explains why.
	ErrMalformedState = errors.New("monetary: malformed epoch state encoding")
)
