package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/qbind/qbind/crypto"
)

// Version is the key file format version.
const Version = 1

// KDF parameters.
type KDFParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

var (
	// StandardKDF is PROTOCOL.md §12's argon2id setting (64 MiB, t 3, p 4).
	StandardKDF = KDFParams{MemoryKiB: 64 * 1024, Time: 3, Threads: 4}
	// LightKDF is for tests only (64 KiB, t 1, p 1); MainNet refuses it.
	LightKDF = KDFParams{MemoryKiB: 64, Time: 1, Threads: 1}
)

// Errors.
var (
	ErrWrongPassphrase = errors.New("cannot decrypt the key file: wrong passphrase, or the file was modified")
	ErrTampered        = errors.New("key file is inconsistent: its public key or account id does not match the decrypted key")
	ErrFormat          = errors.New("key file is not a valid QBIND keystore file")
	ErrExists          = errors.New("a key file with this name already exists (refusing to overwrite)")
	ErrNotFound        = errors.New("no key file with this name in the keystore")
	ErrWeakKDF         = errors.New("key file uses a KDF weaker than argon2id 64 MiB/t3/p4 (test-only setting)")
	ErrBadName         = errors.New("key name must be 1–64 characters of letters, digits, '.', '_' or '-'")
	ErrEmptyPassphrase = errors.New("passphrase is empty")
	ErrPermissions     = errors.New("key file is readable by group or others (chmod 600 it)")
)

// header is the authenticated part of the file. Field order is the canonical
// JSON order (encoding/json emits struct fields in declaration order, no
// whitespace): the AAD is json.Marshal(header).
type header struct {
	Version   int        `json:"version"`
	Suite     uint16     `json:"suite"`
	AccountID string     `json:"account_id"`
	PublicKey string     `json:"public_key"`
	KDF       kdfJSON    `json:"kdf"`
	Cipher    cipherJSON `json:"cipher"`
}

type kdfJSON struct {
	Name      string `json:"name"`
	MemoryKiB uint32 `json:"m"`
	Time      uint32 `json:"t"`
	Threads   uint8  `json:"p"`
	Salt      string `json:"salt"`
}

type cipherJSON struct {
	Name  string `json:"name"`
	Nonce string `json:"nonce"`
}

type file struct {
	header
	Ciphertext string `json:"ciphertext"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Path is the file of key name in dir.
func Path(dir, name string) (string, error) {
	if !nameRE.MatchString(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%q: %w", name, ErrBadName)
	}
	return filepath.Join(dir, name+".json"), nil
}

// Encrypt seals key under passphrase and returns the file contents.
func Encrypt(key *crypto.PrivateKey, passphrase []byte, kdf KDFParams) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	pub := key.Public()
	h := header{
		Version:   Version,
		Suite:     uint16(pub.Suite()),
		AccountID: pub.AccountID().String(),
		PublicKey: hex.EncodeToString(pub.Bytes()),
		KDF:       kdfJSON{Name: "argon2id", MemoryKiB: kdf.MemoryKiB, Time: kdf.Time, Threads: kdf.Threads, Salt: hex.EncodeToString(salt)},
		Cipher:    cipherJSON{Name: "chacha20-poly1305", Nonce: hex.EncodeToString(nonce)},
	}
	aad, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(deriveKey(passphrase, salt, kdf))
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(nil, nonce, key.Seed(), aad)
	out, err := json.MarshalIndent(file{header: h, Ciphertext: hex.EncodeToString(ct)}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func deriveKey(passphrase, salt []byte, kdf KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, kdf.Time, kdf.MemoryKiB, kdf.Threads, chacha20poly1305.KeySize)
}

// Info is the public part of a key file.
type Info struct {
	Suite     crypto.SuiteID
	AccountID crypto.Hash
	PublicKey []byte
	KDF       KDFParams
}

// Inspect parses a key file's public header without decrypting it.
func Inspect(data []byte) (Info, error) {
	f, err := parse(data)
	if err != nil {
		return Info{}, err
	}
	return f.info()
}

func (f *file) info() (Info, error) {
	id, err := crypto.ParseHash(f.AccountID)
	if err != nil {
		return Info{}, fmt.Errorf("%w: account_id: %v", ErrFormat, err)
	}
	pk, err := hex.DecodeString(f.PublicKey)
	if err != nil {
		return Info{}, fmt.Errorf("%w: public_key: %v", ErrFormat, err)
	}
	return Info{Suite: crypto.SuiteID(f.Suite), AccountID: id, PublicKey: pk,
		KDF: KDFParams{MemoryKiB: f.KDF.MemoryKiB, Time: f.KDF.Time, Threads: f.KDF.Threads}}, nil
}

// fields lists the exact member names of each object of the format; a nil
// entry is a scalar.
type fields map[string]fields

var fileFields = fields{
	"version": nil, "suite": nil, "account_id": nil, "public_key": nil,
	"kdf":        {"name": nil, "m": nil, "t": nil, "p": nil, "salt": nil},
	"cipher":     {"name": nil, "nonce": nil},
	"ciphertext": nil,
}

// checkStrict walks the JSON tokens of a key file and refuses what
// encoding/json would let through: data after the top-level object, member
// names that differ from the format's in case (encoding/json matches them
// case-insensitively), repeated members (it keeps the last) and missing ones.
func checkStrict(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are only skipped here: no float conversion
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%w: not a JSON object", ErrFormat)
	}
	if err := checkObject(dec, fileFields, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", ErrFormat)
	}
	return nil
}

// checkObject reads the members and the closing brace of an object whose
// opening brace was read.
func checkObject(dec *json.Decoder, want fields, prefix string) error {
	seen := make(map[string]bool, len(want))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
		key, _ := tok.(string) // Token returns an object key as a string
		name := prefix + key
		sub, known := want[key]
		switch {
		case !known:
			return fmt.Errorf("%w: field %q is not part of the format (names are case-sensitive)", ErrFormat, name)
		case seen[key]:
			return fmt.Errorf("%w: duplicate field %q", ErrFormat, name)
		}
		seen[key] = true
		if tok, err = dec.Token(); err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if sub != nil {
			if tok != json.Delim('{') {
				return fmt.Errorf("%w: field %q must be an object", ErrFormat, name)
			}
			if err := checkObject(dec, sub, name+"."); err != nil {
				return err
			}
		} else if err := skipValue(dec, tok); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if !seen[key] {
			return fmt.Errorf("%w: field %q is missing", ErrFormat, prefix+key)
		}
	}
	return nil
}

// skipValue consumes the rest of a value whose first token is tok (the
// typed decode reports a wrong type).
func skipValue(dec *json.Decoder, tok json.Token) error {
	for depth := 0; ; {
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = dec.Token(); err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
	}
}

// parse decodes and structurally validates a key file.
func parse(data []byte) (*file, error) {
	if err := checkStrict(data); err != nil {
		return nil, err
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch {
	case f.Version != Version:
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrFormat, f.Version, Version)
	case f.KDF.Name != "argon2id":
		return nil, fmt.Errorf("%w: kdf %q", ErrFormat, f.KDF.Name)
	case f.Cipher.Name != "chacha20-poly1305":
		return nil, fmt.Errorf("%w: cipher %q", ErrFormat, f.Cipher.Name)
	case f.KDF.Time == 0 || f.KDF.Threads == 0 || f.KDF.MemoryKiB < 8*uint32(f.KDF.Threads) || f.KDF.MemoryKiB > 4<<20 || f.KDF.Time > 64:
		return nil, fmt.Errorf("%w: kdf parameters out of range", ErrFormat)
	}
	if _, err := crypto.LookupSignatureScheme(crypto.SuiteID(f.Suite)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return &f, nil
}

// Decrypt opens a key file. requireStandardKDF refuses test-only KDF
// settings (MainNet).
func Decrypt(data, passphrase []byte, requireStandardKDF bool) (*crypto.PrivateKey, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	info, err := f.info()
	if err != nil {
		return nil, err
	}
	if requireStandardKDF && (info.KDF.MemoryKiB < StandardKDF.MemoryKiB || info.KDF.Time < StandardKDF.Time) {
		return nil, ErrWeakKDF
	}
	salt, err1 := hex.DecodeString(f.KDF.Salt)
	nonce, err2 := hex.DecodeString(f.Cipher.Nonce)
	ct, err3 := hex.DecodeString(f.Ciphertext)
	if err := errors.Join(err1, err2, err3); err != nil || len(salt) != 16 || len(nonce) != chacha20poly1305.NonceSize {
		return nil, fmt.Errorf("%w: salt, nonce or ciphertext encoding", ErrFormat)
	}
	aad, err := json.Marshal(f.header)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(deriveKey(passphrase, salt, info.KDF))
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	key, err := crypto.NewPrivateKeyFromSeed(info.Suite, seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	if !bytes.Equal(key.Public().Bytes(), info.PublicKey) || key.Public().AccountID() != info.AccountID {
		return nil, ErrTampered
	}
	return key, nil
}

// Write stores key as dir/name.json (mode 0600, dir 0700), atomically and
// only if no such file exists.
func Write(dir, name string, key *crypto.PrivateKey, passphrase []byte, kdf KDFParams) (string, error) {
	path, err := Path(dir, name)
	if err != nil {
		return "", err
	}
	data, err := Encrypt(key, passphrase, kdf)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful link
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// Link fails if path exists: no check-then-rename race can overwrite a key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s: %w", path, ErrExists)
		}
		return "", err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return path, nil
}

// Read loads dir/name.json, refusing files readable by group or others.
func Read(dir, name string) ([]byte, error) {
	path, err := Path(dir, name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrPermissions)
	}
	return os.ReadFile(path)
}

// Load reads and decrypts dir/name.json.
func Load(dir, name string, passphrase []byte, requireStandardKDF bool) (*crypto.PrivateKey, error) {
	data, err := Read(dir, name)
	if err != nil {
		return nil, err
	}
	key, err := Decrypt(data, passphrase, requireStandardKDF)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return key, nil
}
