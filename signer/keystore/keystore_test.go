package keystore

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qbind/qbind/crypto"
)

func testKey(t testing.TB, b byte) *crypto.PrivateKey {
	seed := bytes.Repeat([]byte{b}, 32)
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var pass = []byte("correct horse battery staple")

func TestRoundTripAndFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k := testKey(t, 1)
	path, err := Write(dir, "validator-0", k, pass, LightKDF)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", st.Mode().Perm(), err)
	}
	got, err := Load(dir, "validator-0", pass, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Seed(), k.Seed()) {
		t.Fatal("seed differs after round trip")
	}
	if _, err := Write(dir, "validator-0", testKey(t, 2), pass, LightKDF); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	if again, _ := Load(dir, "validator-0", pass, false); again == nil || !bytes.Equal(again.Seed(), k.Seed()) {
		t.Fatal("existing key changed by a refused write")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "validator-0", pass, false); !errors.Is(err, ErrPermissions) {
		t.Fatalf("world-readable key file: %v", err)
	}
}

func TestStandardKDF(t *testing.T) {
	k := testKey(t, 3)
	data, err := Encrypt(k, pass, StandardKDF)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(data)
	if err != nil || info.KDF != StandardKDF || info.AccountID != k.Public().AccountID() {
		t.Fatalf("header: %+v %v", info, err)
	}
	if _, err := Decrypt(data, pass, true); err != nil {
		t.Fatalf("standard KDF refused: %v", err)
	}
	light, _ := Encrypt(k, pass, LightKDF)
	if _, err := Decrypt(light, pass, true); !errors.Is(err, ErrWeakKDF) {
		t.Fatalf("light KDF where standard is required: %v", err)
	}
}

func TestRejections(t *testing.T) {
	k := testKey(t, 4)
	data, err := Encrypt(k, pass, LightKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(data, []byte("wrong"), false); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := Encrypt(k, nil, LightKDF); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatal("empty passphrase accepted")
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	edit := func(mut func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(data, &m)
		mut(m)
		b, _ := json.Marshal(m)
		return b
	}
	flipHex := func(s string) string {
		c := "0"
		if s[10] == '0' {
			c = "1"
		}
		return s[:10] + c + s[11:]
	}
	other := testKey(t, 5).Public()
	cases := map[string][]byte{
		"ciphertext": edit(func(m map[string]any) { m["ciphertext"] = flipHex(m["ciphertext"].(string)) }),
		"salt": edit(func(m map[string]any) {
			m["kdf"].(map[string]any)["salt"] = flipHex(m["kdf"].(map[string]any)["salt"].(string))
		}),
		"nonce": edit(func(m map[string]any) {
			m["cipher"].(map[string]any)["nonce"] = flipHex(m["cipher"].(map[string]any)["nonce"].(string))
		}),
		"kdf time":           edit(func(m map[string]any) { m["kdf"].(map[string]any)["t"] = 2 }),
		"other public key":   edit(func(m map[string]any) { m["public_key"] = strings.Repeat("00", len(other.Bytes())) }),
		"other account id":   edit(func(m map[string]any) { m["account_id"] = other.AccountID().String() }),
		"unknown field":      edit(func(m map[string]any) { m["extra"] = 1 }),
		"version":            edit(func(m map[string]any) { m["version"] = 2 }),
		"kdf name":           edit(func(m map[string]any) { m["kdf"].(map[string]any)["name"] = "scrypt" }),
		"huge kdf memory":    edit(func(m map[string]any) { m["kdf"].(map[string]any)["m"] = 1 << 30 }),
		"not json":           []byte("{"),
		"truncated":          data[:len(data)/2],
		"unknown suite":      edit(func(m map[string]any) { m["suite"] = 7 }),
		"ciphertext not hex": edit(func(m map[string]any) { m["ciphertext"] = "zz" }),
	}
	for name, bad := range cases {
		if _, err := Decrypt(bad, pass, false); err == nil {
			t.Errorf("%s: tampered file accepted", name)
		}
	}
}

// TestStrictJSON: encoding/json alone accepts data after the object, member
// names in another case and repeated members (keeping the last); key files
// refuse all three, at every level, and name the offending field.
func TestStrictJSON(t *testing.T) {
	k := testKey(t, 9)
	data, err := Encrypt(k, pass, LightKDF)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(data, []byte(old)) {
			t.Fatalf("%q not in the key file", old)
		}
		return bytes.Replace(data, []byte(old), []byte(new), 1)
	}
	// still valid: whitespace around the object
	for name, ok := range map[string][]byte{
		"trailing whitespace": append(bytes.Clone(data), " \n\t\r\n"...),
		"leading whitespace":  append([]byte("\n  "), data...),
	} {
		if got, err := Decrypt(ok, pass, false); err != nil || !bytes.Equal(got.Seed(), k.Seed()) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"second object", append(bytes.Clone(data), `{"anything":"here"}`...), "unexpected data after the JSON object"},
		{"trailing garbage", append(bytes.Clone(data), "garbage"...), "unexpected data after the JSON object"},
		{"trailing brace", append(bytes.Clone(data), '}'), "unexpected data after the JSON object"},
		{"upper-case field", replace(`"public_key"`, `"PUBLIC_KEY"`), `field "PUBLIC_KEY" is not part of the format (names are case-sensitive)`},
		{"mixed-case field", replace(`"version"`, `"Version"`), `field "Version" is not part of the format`},
		{"nested case", replace(`"salt"`, `"Salt"`), `field "kdf.Salt" is not part of the format`},
		{"nested unknown", replace(`"nonce"`, `"iv": "00", "nonce"`), `field "cipher.iv" is not part of the format`},
		{"duplicate field", replace(`"version": 1,`, `"version": 1, "version": 1,`), `duplicate field "version"`},
		{"duplicate, last wins", replace(`"suite": 100,`, `"suite": 7, "suite": 100,`), `duplicate field "suite"`},
		{"nested duplicate", replace(`"nonce": "`, `"nonce": "000000000000000000000000", "nonce": "`), `duplicate field "cipher.nonce"`},
		{"missing field", replace(`"version": 1,`, ``), `field "version" is missing`},
		{"nested missing", replace(`"m": 64,`, ``), `field "kdf.m" is missing`},
		{"kdf not an object", []byte(`{"version":1,"suite":100,"account_id":"","public_key":"","kdf":[],"cipher":{},"ciphertext":""}`), `field "kdf" must be an object`},
		{"array", []byte(`[]`), "not a JSON object"},
		{"empty", nil, "EOF"},
	}
	for _, c := range cases {
		for what, err := range map[string]error{
			"Decrypt": func() error { _, err := Decrypt(c.file, pass, false); return err }(),
			"Inspect": func() error { _, err := Inspect(c.file); return err }(),
		} {
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %s: %v, want ErrFormat with %q", c.name, what, err, c.want)
			}
		}
	}
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 65), "sp ace"} {
		if _, err := Path("/tmp", n); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q accepted", n)
		}
	}
}

// FuzzDecrypt: key files are disk input; a malformed one is an error, never a panic.
func FuzzDecrypt(f *testing.F) {
	data, err := Encrypt(testKey(f, 6), pass, LightKDF)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Inspect(b); err != nil {
			return
		}
		// Bound the KDF work a fuzzed header can request.
		var fh file
		if json.Unmarshal(b, &fh) == nil && fh.KDF.MemoryKiB > 1024 {
			return
		}
		Decrypt(b, pass, false)
	})
}
