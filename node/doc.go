// Package node will hold the driver loop that connects the pure cores
// (consensus, dag, mempool, execution, monetary) to I/O (p2p, state, signer,
// rpc): configuration and profiles with Validate, the MainNet start-up
// invariants of PROTOCOL.md §13, the signature-verification worker pool that
// runs before events reach a core, persist-before-send ordering, and a clean
// halt on a broken invariant. It arrives with the node issue.
package node
