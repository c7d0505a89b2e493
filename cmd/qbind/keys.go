package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/signer/keystore"
)

// passphraseEnv is where a passphrase may come from when no file is given.
const passphraseEnv = "QBIND_KEYSTORE_PASSPHRASE"

var errNoPassphrase = fmt.Errorf("no passphrase: set %s or pass --passphrase-file FILE", passphraseEnv)

// keystoreFlags are shared by every command that opens a key file.
type keystoreFlags struct {
	dir, name, passFile string
	lightKDF            bool
}

func (f *keystoreFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "keystore", "", "keystore directory (required)")
	cmd.Flags().StringVar(&f.name, "name", "", "key name: the file is <keystore>/<name>.json (required)")
	cmd.Flags().StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file (first line); otherwise $"+passphraseEnv)
	cmd.MarkFlagRequired("keystore")
	cmd.MarkFlagRequired("name")
}

// passphrase reads --passphrase-file (first line, trailing newline dropped) or
// the environment variable; the file wins when both are set.
func (f *keystoreFlags) passphrase() ([]byte, error) {
	if f.passFile != "" {
		data, err := os.ReadFile(f.passFile)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return nil, fmt.Errorf("passphrase file %s: %w", f.passFile, keystore.ErrEmptyPassphrase)
		}
		return line, nil
	}
	if p := os.Getenv(passphraseEnv); p != "" {
		return []byte(p), nil
	}
	return nil, errNoPassphrase
}

func (f *keystoreFlags) load() (*crypto.PrivateKey, error) {
	pass, err := f.passphrase()
	if err != nil {
		return nil, err
	}
	return keystore.Load(f.dir, f.name, pass, false)
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create and inspect encrypted ML-DSA-44 key files",
		Long: `keys manages encrypted key files (PROTOCOL.md §12): the 32-byte ML-DSA-44 seed
sealed with ChaCha20-Poly1305 under an argon2id key (64 MiB, t=3, p=4) derived
from your passphrase. The passphrase comes from --passphrase-file or the
` + passphraseEnv + ` environment variable; it is never read from a flag.`,
	}
	cmd.AddCommand(newKeysNewCmd(), newKeysShowCmd())
	return cmd
}

func newKeysNewCmd() *cobra.Command {
	var f keystoreFlags
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "new --keystore DIR --name NAME",
		Short: "Generate a new key and write it encrypted to DIR/NAME.json",
		Example: `  QBIND_KEYSTORE_PASSPHRASE='…' qbind keys new --keystore ~/.qbind/keys --name wallet
  qbind keys new --keystore ./keys --name validator-0 --passphrase-file ./pass.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pass, err := f.passphrase()
			if err != nil {
				return err
			}
			seed := make([]byte, crypto.SeedSize)
			if _, err := rand.Read(seed); err != nil {
				return err
			}
			key, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
			clear(seed)
			if err != nil {
				return err
			}
			kdf := keystore.StandardKDF
			if f.lightKDF {
				kdf = keystore.LightKDF
			}
			path, err := keystore.Write(f.dir, f.name, key, pass, kdf)
			if err != nil {
				return err
			}
			return printKey(cmd, key.Public(), path, jsonOut)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&f.lightKDF, "insecure-light-kdf", false, "use a weak test-only KDF (fast; MainNet refuses such files)")
	cmd.Flags().MarkHidden("insecure-light-kdf")
	return cmd
}

func newKeysShowCmd() *cobra.Command {
	var f keystoreFlags
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show --keystore DIR --name NAME",
		Short: "Decrypt a key file and print its account id and public key",
		Long: `show decrypts DIR/NAME.json, re-derives the public key from the seed and checks
it against the file, then prints the account id and public key. A wrong
passphrase or a modified file is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := f.load()
			if err != nil {
				return err
			}
			path, _ := keystore.Path(f.dir, f.name)
			return printKey(cmd, key.Public(), path, jsonOut)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return cmd
}

func printKey(cmd *cobra.Command, pub *crypto.PublicKey, path string, jsonOut bool) error {
	out := cmd.OutOrStdout()
	if jsonOut {
		return json.NewEncoder(out).Encode(map[string]any{
			"account_id": pub.AccountID().String(),
			"suite":      uint16(pub.Suite()),
			"public_key": hex.EncodeToString(pub.Bytes()),
			"file":       path,
		})
	}
	_, err := fmt.Fprintf(out, "account id: %s\nsuite:      %d (ML-DSA-44)\nfile:       %s\npublic key: %s\n",
		pub.AccountID(), pub.Suite(), path, hex.EncodeToString(pub.Bytes()))
	return err
}
