// Package u128 is the unsigned 128-bit integer used for every amount in QBIND
// (balances, fees, burns, supply).
//
// Arithmetic is explicit about overflow: Add, Sub and Mul return ok = false
// instead of wrapping, because in QBIND an amount that wraps is either a
// rejected transaction (a gas_limit × max_fee_per_gas product that overflows
// is "insufficient balance") or a broken invariant that must halt the node.
// The package imports only the standard library so every other package,
// including the pure cores, can use it.
package u128
