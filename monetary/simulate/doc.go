// Package simulate is the governance simulator behind `qbind monetary
// simulate`: it runs the real integer engine (package monetary) epoch by epoch
// over a synthetic fee path and reports the trajectory per month, so a policy
// can be seen before it is enacted.
//
// Floating point is allowed in this package only, and only to build the
// inputs (the fee path F × (1+G)^(e/52,560) and amounts written as 3.5e26):
// every value the engine computes is the exact integer the node would compute
// for the same inputs. Nothing here is used by a node.
//
// Model (the engine is in active mode, so issuance is minted):
//   - fees of epoch e = floor(F × (1+G)^(e/52,560)): G is a yearly growth
//     fraction applied per epoch as (1+G)^(1/52,560);
//   - total_burned grows by floor(fees × burn_bps / 10⁴) each epoch (MainNet
//     burns 50 % of fees, PROTOCOL.md §5);
//   - minted grows by each epoch's issuance; circulating = supply + minted −
//     burned;
//   - staked is constant, unless Restake is set: then the validators' share
//     of each epoch's issuance is added to it (rewards restaked);
//   - a single validator holds the whole stake (the per-validator split does
//     not change the trajectory).
package simulate
