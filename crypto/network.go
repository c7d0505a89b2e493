package crypto

import (
	"errors"
	"fmt"
	"strings"
)

// Network is one QBIND chain: it selects the chain id and the signature scope.
// TestNet Alpha and Beta are phases of one TestNet and share its id.
type Network uint8

const (
	DevNet Network = iota + 1
	TestNet
	MainNet
)

// Chain ids (PROTOCOL.md §2): ASCII "QBNDDEV\0", "QBNDTST\0", "QBNDMAIN".
const (
	ChainIDDevNet  uint64 = 0x51424E4444455600
	ChainIDTestNet uint64 = 0x51424E4454535400
	ChainIDMainNet uint64 = 0x51424E444D41494E
)

// ErrUnknownNetwork is returned for a network name or chain id QBIND does not define.
var ErrUnknownNetwork = errors.New("unknown network (want devnet, testnet or mainnet)")

// ParseNetwork accepts devnet, testnet (also testnet-alpha, testnet-beta) and mainnet.
func ParseNetwork(s string) (Network, error) {
	switch strings.ToLower(s) {
	case "devnet", "dev":
		return DevNet, nil
	case "testnet", "tst", "testnet-alpha", "testnet-beta":
		return TestNet, nil
	case "mainnet", "main":
		return MainNet, nil
	}
	return 0, fmt.Errorf("%q: %w", s, ErrUnknownNetwork)
}

// NetworkByChainID maps a chain id back to its network.
func NetworkByChainID(id uint64) (Network, error) {
	switch id {
	case ChainIDDevNet:
		return DevNet, nil
	case ChainIDTestNet:
		return TestNet, nil
	case ChainIDMainNet:
		return MainNet, nil
	}
	return 0, fmt.Errorf("chain id %#x: %w", id, ErrUnknownNetwork)
}

// Valid reports whether n is one of the defined networks.
func (n Network) Valid() bool { return n >= DevNet && n <= MainNet }

// ChainID is the u64 chain id of n (0 for an invalid network).
func (n Network) ChainID() uint64 {
	switch n {
	case DevNet:
		return ChainIDDevNet
	case TestNet:
		return ChainIDTestNet
	case MainNet:
		return ChainIDMainNet
	}
	return 0
}

// Scope is the <S> of the domain tags: DEV, TST or MAIN.
func (n Network) Scope() string {
	switch n {
	case DevNet:
		return "DEV"
	case TestNet:
		return "TST"
	case MainNet:
		return "MAIN"
	}
	return "INVALID"
}

func (n Network) String() string {
	switch n {
	case DevNet:
		return "devnet"
	case TestNet:
		return "testnet"
	case MainNet:
		return "mainnet"
	}
	return fmt.Sprintf("network(%d)", uint8(n))
}

// Kind names what a scoped signature is over.
type Kind uint8

const (
	KindTx Kind = iota
	KindBatch
	KindBatchAck
	KindProposal
	KindVote
	KindTimeout
	KindNodeCert
	KindNodeRecord
	KindSigner
	KindBatches // batch_commitment hash tag (§7), scoped but not a signature
	numKinds
)

var kindNames = [numKinds]string{"TX", "BATCH", "BATCH_ACK", "PROPOSAL", "VOTE", "TIMEOUT", "NODECERT", "NODEREC", "SIGNER", "BATCHES"}

// tags[network][kind] holds the precomputed "QBIND:<S>:<KIND>:v1" strings so
// signing paths do not allocate them per message.
var tags [MainNet + 1][numKinds][]byte

func init() {
	for _, n := range []Network{DevNet, TestNet, MainNet} {
		for k := range numKinds {
			tags[n][k] = []byte("QBIND:" + n.Scope() + ":" + kindNames[k] + ":v1")
		}
	}
}

// Tag is the domain tag "QBIND:<S>:<KIND>:v1" (no length prefix). It panics on
// an invalid network or kind, which is a programming error: networks come
// from ParseNetwork or NetworkByChainID.
func (n Network) Tag(k Kind) []byte {
	if !n.Valid() || k >= numKinds {
		panic(fmt.Sprintf("crypto: no tag for network %d kind %d", n, k))
	}
	return tags[n][k]
}

// Unscoped domain tags (PROTOCOL.md §2).
var (
	TagAccount = []byte("QBIND:ACCT:v1")
	TagNodeID  = []byte("QBIND:nodeid:v1")
	TagBlock   = []byte("QBIND:BLOCK:v1")
	TagExec    = []byte("QBIND:EXEC:v1")
	TagGenesis = []byte("QBIND:GENESIS:v1")
	TagLtHash  = []byte("QBIND:LTHASH:v1")
	TagKEMTLS  = []byte("QBIND:KEMTLS:v1")
)
