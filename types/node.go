package types

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// Node identity objects (PROTOCOL.md §11). A node's identity is its ML-DSA-44
// network key (spec §6.5: separate from the consensus key); its node id is
// H("QBIND:nodeid:v1" ‖ network_pk). Both objects below are self-signed by
// that network key, so anyone can check them: the node id binds the key, the
// key checks the signature, and the scoped tag binds the network.

// NodeCert and NodeRecord sizes and caps.
const (
	// NodeCertSize is the fixed encoded size of a NodeCert.
	NodeCertSize = 32 + crypto.MLDSA44PublicKeySize + crypto.MLKEM768EncapsulationKeySize + 8 + 8 + 8 + crypto.MLDSA44SignatureSize
	// MaxNodeAddrs caps the addresses of a NodeRecord.
	MaxNodeAddrs = 8
	// MaxNodeAddrLen caps one "host:port" address.
	MaxNodeAddrLen = 128
	// MaxNodeRecordSize is the largest encoded NodeRecord.
	MaxNodeRecordSize = 32 + 4 + MaxNodeAddrs*(4+MaxNodeAddrLen) + 8 + 8 + crypto.MLDSA44PublicKeySize + crypto.MLDSA44SignatureSize
)

// Node identity errors. Every rejection a peer can cause has its own sentinel.
var (
	ErrNodeCertDecode    = errors.New("node certificate does not decode")
	ErrNodeRecordDecode  = errors.New("node record does not decode")
	ErrNodeIDMismatch    = errors.New("node id is not H(QBIND:nodeid:v1 ‖ network_pk)")
	ErrNodeCertChain     = errors.New("node certificate is for another chain")
	ErrNodeCertNotYet    = errors.New("node certificate is not yet valid")
	ErrNodeCertExpired   = errors.New("node certificate has expired")
	ErrNodeCertWindow    = errors.New("node certificate validity window is empty (not_before > not_after)")
	ErrBadNodeCertSig    = errors.New("node certificate signature does not verify")
	ErrNodeRecordExpired = errors.New("node record has expired")
	ErrBadNodeRecordSig  = errors.New("node record signature does not verify")
	ErrNodeAddr          = errors.New("node record address is not a valid host:port")
	ErrNodeKey           = errors.New("node network key does not decode")
)

// unixSeconds converts t to the u64 unix-seconds form of the validity fields
// (times before 1970 clamp to 0).
func unixSeconds(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s)
}

// NodeCert binds a node id to its network key and its static ML-KEM-768
// encapsulation key for one chain and a validity window. It is what a peer
// presents (encrypted) during the KEMTLS handshake (p2p/kemtls).
//
// Encoding (all fixed size, NodeCertSize bytes):
//
//	node_id [32] ‖ network_pk [1312] ‖ kem_ek [1184] ‖ chain_id u64 ‖
//	not_before u64 ‖ not_after u64 ‖ signature [2420]
//
// NotBefore and NotAfter are unix seconds (UTC); the certificate is valid for
// NotBefore ≤ now ≤ NotAfter. The signature is ML-DSA-44 by network_pk over
// "QBIND:<S>:NODECERT:v1" ‖ every field before the signature.
type NodeCert struct {
	NodeID    crypto.Hash
	NetworkPK []byte // ML-DSA-44 public key, 1312 bytes
	KEMEK     []byte // ML-KEM-768 encapsulation key, 1184 bytes
	ChainID   uint64
	NotBefore uint64 // unix seconds, inclusive
	NotAfter  uint64 // unix seconds, inclusive
	Signature []byte // 2420 bytes
}

func (c *NodeCert) encodeBody(w *codec.Writer) {
	w.Fixed(c.NodeID[:])
	w.Fixed(c.NetworkPK)
	w.Fixed(c.KEMEK)
	w.U64(c.ChainID)
	w.U64(c.NotBefore)
	w.U64(c.NotAfter)
}

// SigningBytes is "QBIND:<S>:NODECERT:v1" ‖ node_id ‖ network_pk ‖ kem_ek ‖
// chain_id ‖ not_before ‖ not_after.
func (c *NodeCert) SigningBytes(n crypto.Network) []byte {
	tag := n.Tag(crypto.KindNodeCert)
	w := codec.NewWriter(len(tag) + NodeCertSize - crypto.MLDSA44SignatureSize)
	w.Fixed(tag)
	c.encodeBody(w)
	return w.Bytes()
}

// Encode returns the canonical NodeCertSize bytes. Fields of the wrong size
// are written as they are; DecodeNodeCert rejects the result.
func (c *NodeCert) Encode() []byte {
	w := codec.NewWriter(NodeCertSize)
	c.encodeBody(w)
	w.Fixed(c.Signature)
	return w.Bytes()
}

// DecodeNodeCert parses a certificate (structure only; Verify checks it).
// Slices alias in.
func DecodeNodeCert(in []byte) (*NodeCert, error) {
	if len(in) != NodeCertSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrNodeCertDecode, len(in), NodeCertSize)
	}
	r := codec.NewReader(in)
	c := &NodeCert{}
	r.FixedInto(c.NodeID[:])
	c.NetworkPK = r.Fixed(crypto.MLDSA44PublicKeySize)
	c.KEMEK = r.Fixed(crypto.MLKEM768EncapsulationKeySize)
	c.ChainID = r.U64()
	c.NotBefore = r.U64()
	c.NotAfter = r.U64()
	c.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNodeCertDecode, err)
	}
	return c, nil
}

// NewNodeCert builds and signs (hedged) the certificate of key with the
// static KEM encapsulation key kemEK, valid over [notBefore, notAfter].
func NewNodeCert(n crypto.Network, key *crypto.PrivateKey, kemEK []byte, notBefore, notAfter time.Time) (*NodeCert, error) {
	pk := key.Public().Bytes()
	c := &NodeCert{
		NodeID:    crypto.NodeID(pk),
		NetworkPK: append([]byte(nil), pk...),
		KEMEK:     append([]byte(nil), kemEK...),
		ChainID:   n.ChainID(),
		NotBefore: unixSeconds(notBefore),
		NotAfter:  unixSeconds(notAfter),
	}
	if err := c.Sign(n, key); err != nil {
		return nil, err
	}
	return c, nil
}

// Sign sets the signature (hedged) with the node's network key.
func (c *NodeCert) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(c.SigningBytes(n))
	if err != nil {
		return err
	}
	c.Signature = sig
	return nil
}

// Verify checks, in order: node_id = H("QBIND:nodeid:v1" ‖ network_pk), the
// chain id is n's, the validity window contains now, and the signature.
// keys may be nil; with a cache the parsed network key is reused.
func (c *NodeCert) Verify(n crypto.Network, now time.Time, keys *crypto.KeyCache) error {
	if len(c.NetworkPK) != crypto.MLDSA44PublicKeySize || len(c.KEMEK) != crypto.MLKEM768EncapsulationKeySize {
		return ErrNodeCertDecode
	}
	if crypto.NodeID(c.NetworkPK) != c.NodeID {
		return ErrNodeIDMismatch
	}
	if c.ChainID != n.ChainID() {
		return fmt.Errorf("%w: %#x, want %#x", ErrNodeCertChain, c.ChainID, n.ChainID())
	}
	if c.NotBefore > c.NotAfter {
		return ErrNodeCertWindow
	}
	t := unixSeconds(now)
	if t < c.NotBefore {
		return fmt.Errorf("%w: now %d < not_before %d", ErrNodeCertNotYet, t, c.NotBefore)
	}
	if t > c.NotAfter {
		return fmt.Errorf("%w: now %d > not_after %d", ErrNodeCertExpired, t, c.NotAfter)
	}
	pk, err := parseNodeKey(c.NetworkPK, keys)
	if err != nil {
		return err
	}
	if !pk.Verify(c.SigningBytes(n), c.Signature) {
		return ErrBadNodeCertSig
	}
	return nil
}

func parseNodeKey(raw []byte, keys *crypto.KeyCache) (*crypto.PublicKey, error) {
	var (
		pk  *crypto.PublicKey
		err error
	)
	if keys != nil {
		pk, err = keys.Get(crypto.SuiteMLDSA44, raw)
	} else {
		pk, err = crypto.ParsePublicKey(crypto.SuiteMLDSA44, raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNodeKey, err)
	}
	return pk, nil
}

// NodeRecord is what peer exchange gossips: where a node can be reached.
//
// PROTOCOL.md §11 lists {node_id, addrs, seq, expiry}; the record also
// carries network_pk so that any node can verify it without having met the
// node (node_id = H(tag ‖ network_pk) binds the key; docs/decisions.md).
//
// Encoding:
//
//	node_id [32] ‖ list(bytes addr) (≤ 8, each ≤ 128 bytes, "host:port") ‖
//	seq u64 ‖ expiry u64 (unix seconds) ‖ network_pk [1312] ‖ signature [2420]
//
// Signed by network_pk over "QBIND:<S>:NODEREC:v1" ‖ every field before the
// signature. A higher seq from the same node replaces a lower one.
type NodeRecord struct {
	NodeID    crypto.Hash
	Addrs     []string
	Seq       uint64
	Expiry    uint64 // unix seconds; the record is valid while now ≤ Expiry
	NetworkPK []byte
	Signature []byte
}

func (rec *NodeRecord) encodeBody(w *codec.Writer) {
	w.Fixed(rec.NodeID[:])
	w.Count(len(rec.Addrs))
	for _, a := range rec.Addrs {
		w.VarBytes([]byte(a))
	}
	w.U64(rec.Seq)
	w.U64(rec.Expiry)
	w.Fixed(rec.NetworkPK)
}

func (rec *NodeRecord) bodySize() int {
	n := 32 + 4 + 8 + 8 + len(rec.NetworkPK)
	for _, a := range rec.Addrs {
		n += 4 + len(a)
	}
	return n
}

// SigningBytes is "QBIND:<S>:NODEREC:v1" ‖ the encoding without the signature.
func (rec *NodeRecord) SigningBytes(n crypto.Network) []byte {
	tag := n.Tag(crypto.KindNodeRecord)
	w := codec.NewWriter(len(tag) + rec.bodySize())
	w.Fixed(tag)
	rec.encodeBody(w)
	return w.Bytes()
}

// Encode returns the canonical encoding.
func (rec *NodeRecord) Encode() []byte {
	w := codec.NewWriter(rec.bodySize() + len(rec.Signature))
	rec.encodeBody(w)
	w.Fixed(rec.Signature)
	return w.Bytes()
}

// CheckNodeAddr reports whether a is a "host:port" address a record may carry:
// non-empty host without spaces or control bytes, decimal port 1–65535, at
// most MaxNodeAddrLen bytes.
func CheckNodeAddr(a string) error {
	if len(a) == 0 || len(a) > MaxNodeAddrLen {
		return fmt.Errorf("%w: length %d", ErrNodeAddr, len(a))
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %q", ErrNodeAddr, a)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: %q", ErrNodeAddr, a)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return fmt.Errorf("%w: port of %q", ErrNodeAddr, a)
	}
	return nil
}

// DecodeNodeRecord parses a record: structure and address syntax (Verify
// checks identity, expiry and signature).
func DecodeNodeRecord(in []byte) (*NodeRecord, error) {
	if len(in) > MaxNodeRecordSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrNodeRecordDecode, len(in), MaxNodeRecordSize)
	}
	r := codec.NewReader(in)
	rec := &NodeRecord{}
	r.FixedInto(rec.NodeID[:])
	n := r.Count(MaxNodeAddrs, 4)
	if r.Err() == nil && n > 0 {
		rec.Addrs = make([]string, 0, n)
		for range n {
			a := r.VarBytes(MaxNodeAddrLen)
			if r.Err() != nil {
				break
			}
			if err := CheckNodeAddr(string(a)); err != nil {
				r.Fail(err)
				break
			}
			rec.Addrs = append(rec.Addrs, string(a))
		}
	}
	rec.Seq = r.U64()
	rec.Expiry = r.U64()
	rec.NetworkPK = r.Fixed(crypto.MLDSA44PublicKeySize)
	rec.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNodeRecordDecode, err)
	}
	return rec, nil
}

// NewNodeRecord builds and signs (hedged) the record of key.
func NewNodeRecord(n crypto.Network, key *crypto.PrivateKey, addrs []string, seq uint64, expiry time.Time) (*NodeRecord, error) {
	if len(addrs) > MaxNodeAddrs {
		return nil, fmt.Errorf("%w: %d addresses > %d", ErrNodeAddr, len(addrs), MaxNodeAddrs)
	}
	for _, a := range addrs {
		if err := CheckNodeAddr(a); err != nil {
			return nil, err
		}
	}
	pk := key.Public().Bytes()
	rec := &NodeRecord{
		NodeID:    crypto.NodeID(pk),
		Addrs:     append([]string(nil), addrs...),
		Seq:       seq,
		Expiry:    unixSeconds(expiry),
		NetworkPK: append([]byte(nil), pk...),
	}
	if err := rec.Sign(n, key); err != nil {
		return nil, err
	}
	return rec, nil
}

// Sign sets the signature (hedged) with the node's network key.
func (rec *NodeRecord) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(rec.SigningBytes(n))
	if err != nil {
		return err
	}
	rec.Signature = sig
	return nil
}

// Verify checks node_id = H("QBIND:nodeid:v1" ‖ network_pk), now ≤ expiry,
// and the signature under n's NODEREC tag. keys may be nil.
func (rec *NodeRecord) Verify(n crypto.Network, now time.Time, keys *crypto.KeyCache) error {
	if len(rec.NetworkPK) != crypto.MLDSA44PublicKeySize {
		return ErrNodeRecordDecode
	}
	if crypto.NodeID(rec.NetworkPK) != rec.NodeID {
		return ErrNodeIDMismatch
	}
	if t := unixSeconds(now); t > rec.Expiry {
		return fmt.Errorf("%w: now %d > expiry %d", ErrNodeRecordExpired, t, rec.Expiry)
	}
	pk, err := parseNodeKey(rec.NetworkPK, keys)
	if err != nil {
		return err
	}
	if !pk.Verify(rec.SigningBytes(n), rec.Signature) {
		return ErrBadNodeRecordSig
	}
	return nil
}
