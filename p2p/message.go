package p2p

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/types"
)

// MsgType is the first byte of every frame payload (the envelope):
//
//	type u8 ‖ body
//
// Consensus and DAG bodies are opaque here: they are the canonical encodings
// of package types, which the node decodes and verifies (a worker pool)
// before they reach a core.
type MsgType uint8

// Message types, grouped by priority class (high nibble).
const (
	// Control (ClassControl): liveness and discovery.
	MsgPing     MsgType = 0x01 // nonce u64
	MsgPong     MsgType = 0x02 // nonce u64 (echo)
	MsgGetPeers MsgType = 0x03 // empty
	MsgPeers    MsgType = 0x04 // list(bytes NodeRecord), ≤ 100
	MsgGoodbye  MsgType = 0x05 // reason u8, then the sender closes

	// Consensus (ClassConsensus).
	MsgProposal MsgType = 0x10
	MsgVote     MsgType = 0x11
	MsgTimeout  MsgType = 0x12
	MsgNewView  MsgType = 0x13 // SyncInfo / timeout certificate forwarding

	// DAG availability and transactions (ClassBatch).
	MsgBatch            MsgType = 0x20
	MsgBatchAck         MsgType = 0x21
	MsgBatchCertificate MsgType = 0x22
	MsgBatchRequest     MsgType = 0x23 // fetch on miss
	MsgBatchResponse    MsgType = 0x24
	MsgTransactions     MsgType = 0x25 // mempool gossip to validators

	// Sync (ClassSync).
	MsgSyncRequest     MsgType = 0x30 // blocks by height range
	MsgSyncResponse    MsgType = 0x31
	MsgSnapshotRequest MsgType = 0x32
	MsgSnapshotChunk   MsgType = 0x33
)

// Class is a send-queue priority: lower is served first.
type Class uint8

// Priority classes: control > consensus > batches > sync.
const (
	ClassControl Class = iota
	ClassConsensus
	ClassBatch
	ClassSync
	NumClasses
)

func (c Class) String() string {
	return [...]string{"control", "consensus", "batch", "sync", "invalid"}[min(c, NumClasses)]
}

// Body caps per class (the frame cap is 8 MiB).
const (
	MaxControlBody   = 1 << 20
	MaxConsensusBody = 4 << 20
	// MaxProposalBody is what consensus decodes (types.MaxProposalBytes,
	// which bounds genesis MAX_PAYLOAD_BYTES): a full proposal exceeds 4 MiB.
	MaxProposalBody = types.MaxProposalBytes
	MaxBatchBody    = 4 << 20
	MaxSyncBody     = kemtls.MaxPayloadSize - 1
	// MaxPeersPerMessage caps a Peers message (= the discovered-peer cap).
	MaxPeersPerMessage = 100
)

// A largest proposal and its envelope fit one frame.
const _ = uint(kemtls.MaxPayloadSize - 1 - MaxProposalBody)

type typeInfo struct {
	name    string
	class   Class
	maxBody int
}

var typeTable = map[MsgType]typeInfo{
	MsgPing:             {"ping", ClassControl, 8},
	MsgPong:             {"pong", ClassControl, 8},
	MsgGetPeers:         {"get_peers", ClassControl, 0},
	MsgPeers:            {"peers", ClassControl, MaxControlBody},
	MsgGoodbye:          {"goodbye", ClassControl, 1},
	MsgProposal:         {"proposal", ClassConsensus, MaxProposalBody},
	MsgVote:             {"vote", ClassConsensus, MaxConsensusBody},
	MsgTimeout:          {"timeout", ClassConsensus, MaxConsensusBody},
	MsgNewView:          {"new_view", ClassConsensus, MaxConsensusBody},
	MsgBatch:            {"batch", ClassBatch, MaxBatchBody},
	MsgBatchAck:         {"batch_ack", ClassBatch, MaxBatchBody},
	MsgBatchCertificate: {"batch_certificate", ClassBatch, MaxBatchBody},
	MsgBatchRequest:     {"batch_request", ClassBatch, MaxBatchBody},
	MsgBatchResponse:    {"batch_response", ClassBatch, MaxBatchBody},
	MsgTransactions:     {"transactions", ClassBatch, MaxBatchBody},
	MsgSyncRequest:      {"sync_request", ClassSync, MaxSyncBody},
	MsgSyncResponse:     {"sync_response", ClassSync, MaxSyncBody},
	MsgSnapshotRequest:  {"snapshot_request", ClassSync, MaxSyncBody},
	MsgSnapshotChunk:    {"snapshot_chunk", ClassSync, MaxSyncBody},
}

// Known reports whether t is a defined message type.
func (t MsgType) Known() bool { _, ok := typeTable[t]; return ok }

// Class is t's priority class (ClassSync for unknown types).
func (t MsgType) Class() Class {
	if i, ok := typeTable[t]; ok {
		return i.class
	}
	return ClassSync
}

func (t MsgType) String() string {
	if i, ok := typeTable[t]; ok {
		return i.name
	}
	return fmt.Sprintf("msg(%#x)", uint8(t))
}

// Message errors.
var (
	ErrEmptyMessage   = errors.New("p2p: empty message")
	ErrUnknownMessage = errors.New("p2p: unknown message type")
	ErrMessageTooBig  = errors.New("p2p: message body exceeds its type's cap")
	ErrMessageDecode  = errors.New("p2p: message body does not decode")
)

// CheckBody reports whether a body of n bytes may be sent as type t: the
// type is defined and n is within its cap (what DecodeEnvelope enforces at
// the receiver).
func CheckBody(t MsgType, n int) error {
	info, ok := typeTable[t]
	if !ok {
		return fmt.Errorf("%w: %#x", ErrUnknownMessage, uint8(t))
	}
	if n > info.maxBody {
		return fmt.Errorf("%w: %v body of %d bytes > %d", ErrMessageTooBig, t, n, info.maxBody)
	}
	return nil
}

// Encode returns the envelope type ‖ body.
func Encode(t MsgType, body []byte) []byte {
	out := make([]byte, 1+len(body))
	out[0] = byte(t)
	copy(out[1:], body)
	return out
}

// DecodeEnvelope splits a frame payload and checks the type and its body cap.
// body aliases in.
func DecodeEnvelope(in []byte) (MsgType, []byte, error) {
	if len(in) == 0 {
		return 0, nil, ErrEmptyMessage
	}
	t := MsgType(in[0])
	if err := CheckBody(t, len(in)-1); err != nil {
		return 0, nil, err
	}
	return t, in[1:], nil
}

// EncodeNonce is the body of Ping and Pong.
func EncodeNonce(n uint64) []byte {
	w := codec.NewWriter(8)
	w.U64(n)
	return w.Bytes()
}

// DecodeNonce parses a Ping or Pong body.
func DecodeNonce(body []byte) (uint64, error) {
	r := codec.NewReader(body)
	n := r.U64()
	if err := r.Done(); err != nil {
		return 0, fmt.Errorf("%w: nonce: %w", ErrMessageDecode, err)
	}
	return n, nil
}

// EncodePeers is the body of a Peers message: list(bytes NodeRecord).
func EncodePeers(recs []*types.NodeRecord) []byte {
	w := codec.NewWriter(4 + len(recs)*4000)
	w.Count(len(recs))
	for _, r := range recs {
		w.VarBytes(r.Encode())
	}
	return w.Bytes()
}

// DecodePeers parses a Peers body (structure only; the records' signatures
// are checked by the peer manager).
func DecodePeers(body []byte) ([]*types.NodeRecord, error) {
	r := codec.NewReader(body)
	n := r.Count(MaxPeersPerMessage, 4)
	var out []*types.NodeRecord
	if r.Err() == nil {
		out = make([]*types.NodeRecord, 0, n)
		for range n {
			raw := r.VarBytes(types.MaxNodeRecordSize)
			if r.Err() != nil {
				break
			}
			rec, err := types.DecodeNodeRecord(raw)
			if err != nil {
				r.Fail(err)
				break
			}
			out = append(out, rec)
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: peers: %w", ErrMessageDecode, err)
	}
	return out, nil
}

// GoodbyeReason says why a node closes a session (advisory, for logs and
// metrics; the receiver never trusts it for anything else).
type GoodbyeReason uint8

// Goodbye reasons.
const (
	ByeShutdown GoodbyeReason = iota + 1
	ByeTooManyPeers
	ByeSubnetFull
	ByeDuplicate
	ByeEvicted
	ByeBanned
	ByeMisbehaviour
	ByeUnauthorized
)

func (r GoodbyeReason) String() string {
	switch r {
	case ByeShutdown:
		return "shutdown"
	case ByeTooManyPeers:
		return "too_many_peers"
	case ByeSubnetFull:
		return "subnet_full"
	case ByeDuplicate:
		return "duplicate"
	case ByeEvicted:
		return "evicted"
	case ByeBanned:
		return "banned"
	case ByeMisbehaviour:
		return "misbehaviour"
	case ByeUnauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// DecodeGoodbye parses a Goodbye body.
func DecodeGoodbye(body []byte) (GoodbyeReason, error) {
	if len(body) != 1 || body[0] == 0 || body[0] > uint8(ByeUnauthorized) {
		return 0, fmt.Errorf("%w: goodbye", ErrMessageDecode)
	}
	return GoodbyeReason(body[0]), nil
}
