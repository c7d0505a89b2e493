package kemtls

import (
	"crypto/rand"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Handshake errors: one sentinel per way a handshake can fail. Every error
// returned by a handshake wraps exactly one of them (errors.Is).
var (
	ErrRecordDecode      = errors.New("kemtls: malformed handshake record")
	ErrUnexpectedMessage = errors.New("kemtls: unexpected handshake message")
	ErrVersion           = errors.New("kemtls: unsupported protocol version")
	ErrNoCommonSuite     = errors.New("kemtls: no common cipher suite")
	ErrSuiteNotOffered   = errors.New("kemtls: server chose a suite the client did not offer")
	ErrChainMismatch     = errors.New("kemtls: peer is on another chain")
	ErrKEM               = errors.New("kemtls: KEM encapsulation key rejected")
	ErrDecrypt           = errors.New("kemtls: handshake record does not decrypt (wrong key, tampered, or peer lacks its static key)")
	ErrPeerCert          = errors.New("kemtls: peer certificate invalid")
	ErrPeerIdentity      = errors.New("kemtls: peer is not the node that was dialled")
	ErrSelfConnect       = errors.New("kemtls: connected to ourselves")
	ErrUnauthorized      = errors.New("kemtls: peer not authorized")
	ErrFinished          = errors.New("kemtls: Finished MAC does not verify")
	ErrHandshakeDone     = errors.New("kemtls: handshake already finished or failed")
	ErrHandshakeTimeout  = errors.New("kemtls: handshake deadline exceeded")
	ErrConfig            = errors.New("kemtls: invalid configuration")
)

// DefaultHandshakeTimeout is the deadline of a whole handshake (§11).
const DefaultHandshakeTimeout = 5 * time.Second

// Config is one node's handshake configuration. It is read-only once used.
type Config struct {
	Network crypto.Network
	// Cert is this node's certificate; KEMKey the static ML-KEM-768 key whose
	// encapsulation key it carries.
	Cert   *types.NodeCert
	KEMKey *crypto.KEMPrivateKey
	// Authorize decides on the server whether a client may connect
	// (genesis validators, allowed full nodes). It runs after the node_id
	// check and before the certificate's signature is verified, so it must
	// decide by NodeID alone; the handshake completes only if the
	// certificate then verifies. nil admits every valid certificate.
	Authorize func(*types.NodeCert) error
	// Suites offered (client, in preference order) and accepted (server);
	// empty means {SuiteV1}.
	Suites []Suite
	// Now is the clock used for certificate validity; nil is time.Now.
	Now func() time.Time
	// Rand supplies the client and server randoms; nil is crypto/rand.
	// (ML-KEM draws its own randomness from crypto/rand.)
	Rand io.Reader
	// Keys caches parsed network keys; nil parses every time.
	Keys *crypto.KeyCache
	// HandshakeTimeout is the deadline of a handshake over a connection;
	// zero is DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// FirstRecordTimeout bounds a server's wait for the ClientHello; zero
	// is DefaultFirstRecordTimeout (1 s).
	FirstRecordTimeout time.Duration
	// RekeyInterval is the number of frames per key before a rekey; zero is
	// DefaultRekeyInterval (2^20). Tests lower it.
	RekeyInterval uint64
}

func (c *Config) check() error {
	if c == nil || !c.Network.Valid() || c.Cert == nil || c.KEMKey == nil {
		return fmt.Errorf("%w: network, certificate and KEM key are required", ErrConfig)
	}
	if !slices.Equal(c.Cert.KEMEK, c.KEMKey.EncapsulationKey()) {
		return fmt.Errorf("%w: certificate does not carry this node's KEM key", ErrConfig)
	}
	return nil
}

func (c *Config) suites() []Suite {
	if len(c.Suites) == 0 {
		return []Suite{SuiteV1}
	}
	return c.Suites
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Config) random(b []byte) error {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

// DefaultFirstRecordTimeout is how long a server waits for a ClientHello.
const DefaultFirstRecordTimeout = time.Second

func (c *Config) firstRecordTimeout() time.Duration {
	if c.FirstRecordTimeout <= 0 {
		return DefaultFirstRecordTimeout
	}
	return c.FirstRecordTimeout
}

func (c *Config) timeout() time.Duration {
	if c.HandshakeTimeout <= 0 {
		return DefaultHandshakeTimeout
	}
	return c.HandshakeTimeout
}

func (c *Config) rekeyInterval() uint64 {
	if c.RekeyInterval == 0 {
		return DefaultRekeyInterval
	}
	return c.RekeyInterval
}

// supported reports whether this build implements s.
func supported(s Suite) bool { return s == SuiteV1 }

// Result is what a completed handshake establishes.
type Result struct {
	Peer           *types.NodeCert // verified certificate of the other side
	Suite          Suite
	SendKey        []byte // traffic key for frames we send
	RecvKey        []byte // traffic key for frames we receive
	TranscriptHash crypto.Hash
	Client         bool // we were the client
	RekeyInterval  uint64
}

// ---- key schedule (docs/kemtls.md §Key schedule) ----

const keySize = 32

// Labels of HKDF-Expand; info = label ‖ TH (TH is 32 bytes, or absent).
const (
	labelServerHS  = "s hs"
	labelClientHS  = "c hs"
	labelDerived   = "derived"
	labelClientAHS = "c ahs"
	labelServerAHS = "s ahs"
	labelClientFin = "c fin"
	labelServerFin = "s fin"
	labelClientAP  = "c ap"
	labelServerAP  = "s ap"
	labelKeyUpdate = "ku"
)

func expand(prk []byte, label string, th []byte) []byte {
	info := make([]byte, 0, len(label)+len(th))
	info = append(append(info, label...), th...)
	return crypto.HKDFExpand(prk, info, keySize)
}

// earlySecret is ES = HKDF-Extract(salt = "QBIND:KEMTLS:v1" ‖ chain_id u64 LE, ss_e).
func earlySecret(chainID uint64, ssE []byte) []byte {
	salt := binary.LittleEndian.AppendUint64(append([]byte(nil), crypto.TagKEMTLS...), chainID)
	return crypto.HKDFExtract(salt, ssE)
}

// nextSecret is HKDF-Extract(Expand(prev, "derived", TH), ss).
func nextSecret(prev, th, ss []byte) []byte {
	return crypto.HKDFExtract(expand(prev, labelDerived, th), ss)
}

func finishedMAC(ms []byte, label string, th []byte) []byte {
	return crypto.HMAC(expand(ms, label, nil), th)
}

// Handshake records under a one-use key: nonce 0, AAD = record header.
var zeroNonce [crypto.AEADNonceSize]byte

func sealRecord(t MsgType, key, plaintext []byte) []byte {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic("kemtls: " + err.Error()) // key is always 32 bytes
	}
	h := recordHeader(t, len(plaintext)+a.Overhead())
	return a.Seal(h, zeroNonce[:], plaintext, h)
}

func openRecord(rec Record, key []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic("kemtls: " + err.Error())
	}
	pt, err := a.Open(nil, zeroNonce[:], rec.Body, rec.Header)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, rec.Type)
	}
	return pt, nil
}

// transcript is the running SHA3-256 over every record as sent.
type transcript struct{ h *sha3.SHA3 }

func newTranscript() transcript     { return transcript{h: sha3.New256()} }
func (t transcript) add(rec []byte) { t.h.Write(rec) }
func (t transcript) sum() []byte    { return t.h.Sum(nil) }
func expectType(r Record, want MsgType) error {
	if r.Type != want {
		return fmt.Errorf("%w: got %v, want %v", ErrUnexpectedMessage, r.Type, want)
	}
	return nil
}

// verifyPeerCert decodes and checks a peer certificate.
// verifyPeerCert decodes and checks a peer's NodeCert. authorize, if not
// nil, runs after the cheap node_id check and before the signature check, so
// a client the server would refuse anyway costs it no key parse and no
// ML-DSA verification (and cannot push keys into the key cache).
func verifyPeerCert(cfg *Config, raw []byte, authorize func(*types.NodeCert) error) (*types.NodeCert, error) {
	cert, err := types.DecodeNodeCert(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerCert, err)
	}
	if crypto.NodeID(cert.NetworkPK) != cert.NodeID {
		return nil, fmt.Errorf("%w: %w", ErrPeerCert, types.ErrNodeIDMismatch)
	}
	if authorize != nil {
		if err := authorize(cert); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
	}
	if err := cert.Verify(cfg.Network, cfg.now(), cfg.Keys); err != nil {
		if errors.Is(err, types.ErrNodeCertChain) {
			return nil, fmt.Errorf("%w: %w", ErrChainMismatch, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrPeerCert, err)
	}
	if cert.NodeID == cfg.Cert.NodeID {
		return nil, ErrSelfConnect
	}
	// Copy out of the record buffer: the certificate outlives it.
	cert.NetworkPK = slices.Clone(cert.NetworkPK)
	cert.KEMEK = slices.Clone(cert.KEMEK)
	cert.Signature = slices.Clone(cert.Signature)
	return cert, nil
}

// ---- client ----

type clientState uint8

const (
	cStart clientState = iota
	cWaitServerHello
	cWaitServerCert
	cWaitServerKEM
	cWaitServerFinished
	cDone
	cFailed
)

// ClientHandshake is the client side as a pure state machine: Start yields
// the ClientHello record, then each record received goes to Next, which
// returns the records to send. Any error is final.
type ClientHandshake struct {
	cfg    *Config
	expect crypto.Hash
	state  clientState
	err    error
	th     transcript

	eph     *crypto.KEMPrivateKey
	offered []Suite
	suite   Suite
	es, ahs []byte
	ms      []byte
	sHS     []byte
	cHS     []byte
	sAHS    []byte
	th5     []byte
	peer    *types.NodeCert
	result  *Result
}

// NewClient prepares a handshake to the node whose id is expect.
func NewClient(cfg *Config, expect crypto.Hash) (*ClientHandshake, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &ClientHandshake{cfg: cfg, expect: expect, th: newTranscript()}, nil
}

func (c *ClientHandshake) fail(err error) error {
	c.state, c.err = cFailed, err
	c.eph, c.es, c.ahs, c.ms, c.sHS, c.cHS, c.sAHS = nil, nil, nil, nil, nil, nil, nil
	return err
}

// Start returns the ClientHello record.
func (c *ClientHandshake) Start() ([]byte, error) {
	if c.state != cStart {
		return nil, ErrHandshakeDone
	}
	eph, err := crypto.GenerateKEMKey()
	if err != nil {
		return nil, c.fail(fmt.Errorf("%w: %v", ErrKEM, err))
	}
	c.eph = eph
	c.offered = slices.Clone(c.cfg.suites())
	ch := &ClientHello{Version: Version, Suites: c.offered, ChainID: c.cfg.Network.ChainID(), EphemeralEK: eph.EncapsulationKey()}
	if err := c.cfg.random(ch.ClientRandom[:]); err != nil {
		return nil, c.fail(fmt.Errorf("%w: randomness: %v", ErrConfig, err))
	}
	rec := makeRecord(MsgClientHello, ch.Encode())
	c.th.add(rec)
	c.state = cWaitServerHello
	return rec, nil
}

// Done reports whether the handshake completed successfully.
func (c *ClientHandshake) Done() bool { return c.state == cDone }

// Result is the outcome once Done.
func (c *ClientHandshake) Result() *Result { return c.result }

// Next consumes one record from the server.
func (c *ClientHandshake) Next(raw []byte) ([][]byte, error) {
	switch c.state {
	case cDone, cFailed, cStart:
		if c.err != nil {
			return nil, c.err
		}
		return nil, ErrHandshakeDone
	}
	out, err := c.next(raw)
	if err != nil {
		return nil, c.fail(err)
	}
	return out, nil
}

func (c *ClientHandshake) next(raw []byte) ([][]byte, error) {
	rec, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	switch c.state {
	case cWaitServerHello:
		if err := expectType(rec, MsgServerHello); err != nil {
			return nil, err
		}
		sh, err := DecodeServerHello(rec.Body)
		if err != nil {
			return nil, err
		}
		if sh.Version != Version {
			return nil, fmt.Errorf("%w: %d", ErrVersion, sh.Version)
		}
		if !slices.Contains(c.offered, sh.Suite) || !supported(sh.Suite) {
			return nil, fmt.Errorf("%w: %v", ErrSuiteNotOffered, sh.Suite)
		}
		ssE, err := c.eph.Decapsulate(sh.CiphertextE)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecordDecode, err)
		}
		c.eph = nil
		c.suite = sh.Suite
		c.th.add(raw)
		th1 := c.th.sum()
		c.es = earlySecret(c.cfg.Network.ChainID(), ssE)
		c.sHS = expand(c.es, labelServerHS, th1)
		c.cHS = expand(c.es, labelClientHS, th1)
		c.state = cWaitServerCert
		return nil, nil

	case cWaitServerCert:
		if err := expectType(rec, MsgServerCert); err != nil {
			return nil, err
		}
		pt, err := openRecord(rec, c.sHS)
		if err != nil {
			return nil, err
		}
		cert, err := verifyPeerCert(c.cfg, pt, nil)
		if err != nil {
			return nil, err
		}
		if cert.NodeID != c.expect {
			return nil, fmt.Errorf("%w: got %s, dialled %s", ErrPeerIdentity, cert.NodeID, c.expect)
		}
		c.peer = cert
		c.th.add(raw)
		ssS, ctS, err := crypto.Encapsulate(cert.KEMEK)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKEM, err)
		}
		ckc := sealRecord(MsgClientKEMCiphertext, c.cHS, ctS)
		c.th.add(ckc)
		th2 := c.th.sum()
		c.ahs = nextSecret(c.es, th2, ssS)
		cc := sealRecord(MsgClientCert, expand(c.ahs, labelClientAHS, th2), c.cfg.Cert.Encode())
		c.th.add(cc)
		c.sAHS = expand(c.ahs, labelServerAHS, c.th.sum())
		c.es, c.sHS, c.cHS = nil, nil, nil
		c.state = cWaitServerKEM
		return [][]byte{ckc, cc}, nil

	case cWaitServerKEM:
		if err := expectType(rec, MsgServerKEMCiphertext); err != nil {
			return nil, err
		}
		ctC, err := openRecord(rec, c.sAHS)
		if err != nil {
			return nil, err
		}
		ssC, err := c.cfg.KEMKey.Decapsulate(ctC)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecordDecode, err)
		}
		c.th.add(raw)
		th4 := c.th.sum()
		c.ms = nextSecret(c.ahs, th4, ssC)
		c.ahs, c.sAHS = nil, nil
		cf := makeRecord(MsgClientFinished, finishedMAC(c.ms, labelClientFin, th4))
		c.th.add(cf)
		c.th5 = c.th.sum()
		c.state = cWaitServerFinished
		return [][]byte{cf}, nil

	case cWaitServerFinished:
		if err := expectType(rec, MsgServerFinished); err != nil {
			return nil, err
		}
		if !crypto.HMACEqual(rec.Body, finishedMAC(c.ms, labelServerFin, c.th5)) {
			return nil, ErrFinished
		}
		c.th.add(raw)
		thFull := c.th.sum()
		c.result = &Result{
			Peer: c.peer, Suite: c.suite, Client: true,
			SendKey:        expand(c.ms, labelClientAP, thFull),
			RecvKey:        expand(c.ms, labelServerAP, thFull),
			TranscriptHash: crypto.Hash(thFull),
			RekeyInterval:  c.cfg.rekeyInterval(),
		}
		c.ms = nil
		c.state = cDone
		return nil, nil
	}
	return nil, ErrHandshakeDone
}

// ---- server ----

type serverState uint8

const (
	sWaitClientHello serverState = iota
	sWaitClientKEM
	sWaitClientCert
	sWaitClientFinished
	sDone
	sFailed
)

// ServerHandshake is the server side as a pure state machine: each record
// received goes to Next, which returns the records to send.
type ServerHandshake struct {
	cfg   *Config
	state serverState
	err   error
	th    transcript

	suite  Suite
	es     []byte
	cHS    []byte
	ahs    []byte
	ms     []byte
	th4    []byte
	peer   *types.NodeCert
	result *Result
}

// NewServer prepares the server side of one handshake.
func NewServer(cfg *Config) (*ServerHandshake, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &ServerHandshake{cfg: cfg, th: newTranscript()}, nil
}

// Done reports whether the handshake completed successfully.
func (s *ServerHandshake) Done() bool { return s.state == sDone }

// Result is the outcome once Done.
func (s *ServerHandshake) Result() *Result { return s.result }

// Next consumes one record from the client.
func (s *ServerHandshake) Next(raw []byte) ([][]byte, error) {
	switch s.state {
	case sDone, sFailed:
		if s.err != nil {
			return nil, s.err
		}
		return nil, ErrHandshakeDone
	}
	out, err := s.next(raw)
	if err != nil {
		s.state, s.err = sFailed, err
		s.es, s.cHS, s.ahs, s.ms = nil, nil, nil, nil
		return nil, err
	}
	return out, nil
}

func (s *ServerHandshake) next(raw []byte) ([][]byte, error) {
	rec, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	switch s.state {
	case sWaitClientHello:
		if err := expectType(rec, MsgClientHello); err != nil {
			return nil, err
		}
		ch, err := DecodeClientHello(rec.Body)
		if err != nil {
			return nil, err
		}
		if ch.Version != Version {
			return nil, fmt.Errorf("%w: %d", ErrVersion, ch.Version)
		}
		if ch.ChainID != s.cfg.Network.ChainID() {
			return nil, fmt.Errorf("%w: %#x", ErrChainMismatch, ch.ChainID)
		}
		found := false
		for _, cs := range ch.Suites {
			if supported(cs) && slices.Contains(s.cfg.suites(), cs) {
				s.suite, found = cs, true
				break
			}
		}
		if !found {
			return nil, ErrNoCommonSuite
		}
		ssE, ctE, err := crypto.Encapsulate(ch.EphemeralEK)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKEM, err)
		}
		s.th.add(raw)
		sh := &ServerHello{Version: Version, Suite: s.suite, CiphertextE: ctE}
		if err := s.cfg.random(sh.ServerRandom[:]); err != nil {
			return nil, fmt.Errorf("%w: randomness: %v", ErrConfig, err)
		}
		shRec := makeRecord(MsgServerHello, sh.Encode())
		s.th.add(shRec)
		th1 := s.th.sum()
		s.es = earlySecret(s.cfg.Network.ChainID(), ssE)
		s.cHS = expand(s.es, labelClientHS, th1)
		sc := sealRecord(MsgServerCert, expand(s.es, labelServerHS, th1), s.cfg.Cert.Encode())
		s.th.add(sc)
		s.state = sWaitClientKEM
		return [][]byte{shRec, sc}, nil

	case sWaitClientKEM:
		if err := expectType(rec, MsgClientKEMCiphertext); err != nil {
			return nil, err
		}
		ctS, err := openRecord(rec, s.cHS)
		if err != nil {
			return nil, err
		}
		// ML-KEM decapsulation never fails on a well-sized ciphertext:
		// a wrong one yields an unrelated secret (implicit rejection), which
		// makes the ClientCert below fail to decrypt.
		ssS, err := s.cfg.KEMKey.Decapsulate(ctS)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecordDecode, err)
		}
		s.th.add(raw)
		s.ahs = nextSecret(s.es, s.th.sum(), ssS)
		s.es, s.cHS = nil, nil
		s.state = sWaitClientCert
		return nil, nil

	case sWaitClientCert:
		if err := expectType(rec, MsgClientCert); err != nil {
			return nil, err
		}
		th2 := s.th.sum()
		pt, err := openRecord(rec, expand(s.ahs, labelClientAHS, th2))
		if err != nil {
			return nil, err
		}
		cert, err := verifyPeerCert(s.cfg, pt, s.cfg.Authorize)
		if err != nil {
			return nil, err
		}
		s.peer = cert
		s.th.add(raw)
		th3 := s.th.sum()
		ssC, ctC, err := crypto.Encapsulate(cert.KEMEK)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKEM, err)
		}
		skc := sealRecord(MsgServerKEMCiphertext, expand(s.ahs, labelServerAHS, th3), ctC)
		s.th.add(skc)
		s.th4 = s.th.sum()
		s.ms = nextSecret(s.ahs, s.th4, ssC)
		s.ahs = nil
		s.state = sWaitClientFinished
		return [][]byte{skc}, nil

	case sWaitClientFinished:
		if err := expectType(rec, MsgClientFinished); err != nil {
			return nil, err
		}
		if !crypto.HMACEqual(rec.Body, finishedMAC(s.ms, labelClientFin, s.th4)) {
			return nil, ErrFinished
		}
		s.th.add(raw)
		sf := makeRecord(MsgServerFinished, finishedMAC(s.ms, labelServerFin, s.th.sum()))
		s.th.add(sf)
		thFull := s.th.sum()
		s.result = &Result{
			Peer: s.peer, Suite: s.suite,
			SendKey:        expand(s.ms, labelServerAP, thFull),
			RecvKey:        expand(s.ms, labelClientAP, thFull),
			TranscriptHash: crypto.Hash(thFull),
			RekeyInterval:  s.cfg.rekeyInterval(),
		}
		s.ms = nil
		s.state = sDone
		return [][]byte{sf}, nil
	}
	return nil, ErrHandshakeDone
}
