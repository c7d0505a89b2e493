package kemtls

import (
	"encoding/binary"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Version is the only handshake version this build speaks.
const Version uint16 = 1

// Handshake record layout: len u32 BE ‖ type u8 ‖ body, len = 1 + len(body).
// The transcript hash covers every record exactly as sent, header included.
const (
	recordHeaderSize = 5
	// MaxRecordSize caps a handshake record (header included). The largest,
	// an encrypted NodeCert, is 4 993 bytes.
	MaxRecordSize = 16 << 10
	// RandomSize is the size of client_random and server_random.
	RandomSize = 32
	// FinishedSize is the HMAC-SHA3-256 output carried by Finished.
	FinishedSize = 32
	// MaxSuites caps the suites a ClientHello may offer.
	MaxSuites = 8
	suiteSize = 6
)

// MsgType is a handshake record type.
type MsgType uint8

// Handshake messages in the order they are sent (docs/kemtls.md).
const (
	MsgClientHello         MsgType = 1 // C→S plaintext
	MsgServerHello         MsgType = 2 // S→C plaintext
	MsgServerCert          MsgType = 3 // S→C AEAD under s_hs
	MsgClientKEMCiphertext MsgType = 4 // C→S AEAD under c_hs
	MsgClientCert          MsgType = 5 // C→S AEAD under c_ahs
	MsgServerKEMCiphertext MsgType = 6 // S→C AEAD under s_ahs
	MsgClientFinished      MsgType = 7 // C→S plaintext MAC
	MsgServerFinished      MsgType = 8 // S→C plaintext MAC
)

func (t MsgType) String() string {
	switch t {
	case MsgClientHello:
		return "ClientHello"
	case MsgServerHello:
		return "ServerHello"
	case MsgServerCert:
		return "ServerCert"
	case MsgClientKEMCiphertext:
		return "ClientKEMCiphertext"
	case MsgClientCert:
		return "ClientCert"
	case MsgServerKEMCiphertext:
		return "ServerKEMCiphertext"
	case MsgClientFinished:
		return "ClientFinished"
	case MsgServerFinished:
		return "ServerFinished"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// bodySize is the exact body size of each record type (all messages of
// version 1 have fixed sizes, which the parser enforces).
func bodySize(t MsgType) int {
	switch t {
	case MsgClientHello:
		return -1 // variable: the suite list
	case MsgServerHello:
		return serverHelloSize
	case MsgServerCert, MsgClientCert:
		return types.NodeCertSize + crypto.AEADTagSize
	case MsgClientKEMCiphertext, MsgServerKEMCiphertext:
		return crypto.MLKEM768CiphertextSize + crypto.AEADTagSize
	case MsgClientFinished, MsgServerFinished:
		return FinishedSize
	}
	return -2
}

// Suite is a KEMTLS cipher suite: KEM, signature and AEAD suite ids of
// PROTOCOL.md §1 (the hash is always SHA3-256).
type Suite struct {
	KEM  crypto.SuiteID
	Sig  crypto.SuiteID
	AEAD crypto.SuiteID
}

// SuiteV1 is ML-KEM-768 + ML-DSA-44 + ChaCha20-Poly1305, the only suite of v1.
var SuiteV1 = Suite{KEM: crypto.SuiteMLKEM768, Sig: crypto.SuiteMLDSA44, AEAD: crypto.SuiteChaCha20Poly1305}

func (s Suite) String() string { return fmt.Sprintf("kem=%d sig=%d aead=%d", s.KEM, s.Sig, s.AEAD) }

func (s Suite) encode(w *codec.Writer) {
	w.U16(uint16(s.KEM))
	w.U16(uint16(s.Sig))
	w.U16(uint16(s.AEAD))
}

func decodeSuite(r *codec.Reader) Suite {
	return Suite{KEM: crypto.SuiteID(r.U16()), Sig: crypto.SuiteID(r.U16()), AEAD: crypto.SuiteID(r.U16())}
}

// ClientHello opens the handshake.
//
//	version u16 ‖ list(suite{kem u16, sig u16, aead u16}) (1..8) ‖ chain_id u64 ‖
//	client_random [32] ‖ ek_e [1184]
type ClientHello struct {
	Version      uint16
	Suites       []Suite
	ChainID      uint64
	ClientRandom [RandomSize]byte
	EphemeralEK  []byte // ML-KEM-768 encapsulation key, fresh per handshake
}

// Encode returns the body.
func (m *ClientHello) Encode() []byte {
	w := codec.NewWriter(2 + 4 + suiteSize*len(m.Suites) + 8 + RandomSize + len(m.EphemeralEK))
	w.U16(m.Version)
	w.Count(len(m.Suites))
	for _, s := range m.Suites {
		s.encode(w)
	}
	w.U64(m.ChainID)
	w.Fixed(m.ClientRandom[:])
	w.Fixed(m.EphemeralEK)
	return w.Bytes()
}

// DecodeClientHello parses a ClientHello body strictly.
func DecodeClientHello(body []byte) (*ClientHello, error) {
	r := codec.NewReader(body)
	m := &ClientHello{Version: r.U16()}
	n := r.Count(MaxSuites, suiteSize)
	if r.Err() == nil && n == 0 {
		r.Fail(fmt.Errorf("no suites: %w", codec.ErrShort))
	}
	if r.Err() == nil {
		m.Suites = make([]Suite, n)
		for i := range m.Suites {
			m.Suites[i] = decodeSuite(r)
		}
	}
	m.ChainID = r.U64()
	r.FixedInto(m.ClientRandom[:])
	m.EphemeralEK = r.Fixed(crypto.MLKEM768EncapsulationKeySize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: ClientHello: %w", ErrRecordDecode, err)
	}
	return m, nil
}

const serverHelloSize = 2 + suiteSize + RandomSize + crypto.MLKEM768CiphertextSize

// ServerHello answers with the chosen suite and the encapsulation to ek_e.
//
//	version u16 ‖ suite (6) ‖ server_random [32] ‖ ct_e [1088]
type ServerHello struct {
	Version      uint16
	Suite        Suite
	ServerRandom [RandomSize]byte
	CiphertextE  []byte
}

// Encode returns the body.
func (m *ServerHello) Encode() []byte {
	w := codec.NewWriter(serverHelloSize)
	w.U16(m.Version)
	m.Suite.encode(w)
	w.Fixed(m.ServerRandom[:])
	w.Fixed(m.CiphertextE)
	return w.Bytes()
}

// DecodeServerHello parses a ServerHello body strictly.
func DecodeServerHello(body []byte) (*ServerHello, error) {
	r := codec.NewReader(body)
	m := &ServerHello{Version: r.U16(), Suite: decodeSuite(r)}
	r.FixedInto(m.ServerRandom[:])
	m.CiphertextE = r.Fixed(crypto.MLKEM768CiphertextSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: ServerHello: %w", ErrRecordDecode, err)
	}
	return m, nil
}

// Record is one parsed handshake record; Header and Body alias the input.
type Record struct {
	Type   MsgType
	Header []byte // len ‖ type: the AAD of encrypted records
	Body   []byte
}

// ParseRecord splits a complete record (as read from the wire) and checks
// its length field, its type and the fixed body size of that type.
func ParseRecord(rec []byte) (Record, error) {
	if len(rec) < recordHeaderSize {
		return Record{}, fmt.Errorf("%w: %d bytes", ErrRecordDecode, len(rec))
	}
	if len(rec) > MaxRecordSize {
		return Record{}, fmt.Errorf("%w: %d bytes > %d", ErrRecordDecode, len(rec), MaxRecordSize)
	}
	n := binary.BigEndian.Uint32(rec)
	if uint64(n) != uint64(len(rec)-4) {
		return Record{}, fmt.Errorf("%w: length field %d, record has %d", ErrRecordDecode, n, len(rec)-4)
	}
	t := MsgType(rec[4])
	want := bodySize(t)
	if want == -2 {
		return Record{}, fmt.Errorf("%w: unknown type %d", ErrRecordDecode, rec[4])
	}
	body := rec[recordHeaderSize:]
	if want >= 0 && len(body) != want {
		return Record{}, fmt.Errorf("%w: %v body of %d bytes, want %d", ErrRecordDecode, t, len(body), want)
	}
	return Record{Type: t, Header: rec[:recordHeaderSize], Body: body}, nil
}

// recordHeader returns len ‖ type for a body of n bytes.
func recordHeader(t MsgType, n int) []byte {
	h := make([]byte, recordHeaderSize, recordHeaderSize+n)
	binary.BigEndian.PutUint32(h, uint32(1+n))
	h[4] = byte(t)
	return h
}

// makeRecord frames a plaintext body.
func makeRecord(t MsgType, body []byte) []byte {
	return append(recordHeader(t, len(body)), body...)
}
