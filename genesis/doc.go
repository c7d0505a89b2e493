// Package genesis will own the genesis file: its validation, canonical hash
// (H("QBIND:GENESIS:v1" ‖ canonical encoding)), the validator set with
// consensus and network keys, the ExecParams of types and the monetary
// parameters, and EXEC0. It arrives with the node issue; until then tests
// build validator sets and ExecParams directly (types.NewValidatorSet,
// types.DefaultExecParams).
package genesis
