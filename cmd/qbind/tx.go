package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

func newTxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tx",
		Short: "Sign and decode QBIND transactions offline",
	}
	cmd.AddCommand(newTxSignCmd(), newTxDecodeCmd())
	return cmd
}

// profileFor picks the stateless-validity rules a network's nodes apply by
// default: TestNet as Beta (no v0 payloads, MIN_GAS_PRICE > 0) and DevNet
// the same way, because the local network (qbind devnet) runs Beta settings
// on the DevNet chain id (PROTOCOL.md §13).
func profileFor(n crypto.Network, override string) (types.Profile, error) {
	if override != "" {
		p := types.Profile(override)
		if _, err := types.DefaultExecParams(p); err != nil {
			return "", err
		}
		return p, nil
	}
	if n == crypto.MainNet {
		return types.ProfileMainNet, nil
	}
	return types.ProfileTestNetBeta, nil
}

func newTxSignCmd() *cobra.Command {
	var (
		f                      keystoreFlags
		network, to            string
		amount, maxFee         string
		nonce, gasLimit        uint64
		jsonOut, deterministic bool
	)
	cmd := &cobra.Command{
		Use:   "sign --keystore DIR --name NAME --network NET --nonce N --to ACCOUNT_HEX --amount A --gas-limit G --max-fee-per-gas F",
		Short: "Build and sign a v1 transfer; print the raw transaction as hex",
		Long: `sign builds a TransferPayloadV1 (recipient, amount, gas_limit, max_fee_per_gas),
signs it with the key in DIR/NAME.json for the chosen network, and prints the
raw transaction as hex (with --json: {"tx_id","sender","nonce","raw"}).
A signature for one network never verifies on another.

Amounts and fees are decimal integers up to 2^128-1. A plain transfer between
two accounts costs 37352 gas of intrinsic gas.`,
		Example: `  qbind tx sign --keystore ./keys --name wallet --network devnet --nonce 0 \
      --to 1111111111111111111111111111111111111111111111111111111111111111 \
      --amount 1000 --gas-limit 50000 --max-fee-per-gas 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := crypto.ParseNetwork(network)
			if err != nil {
				return err
			}
			recipient, err := types.ParseAccountID(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			amt, err := u128.Parse(amount)
			if err != nil {
				return fmt.Errorf("--amount %q: %w", amount, err)
			}
			fee, err := u128.Parse(maxFee)
			if err != nil {
				return fmt.Errorf("--max-fee-per-gas %q: %w", maxFee, err)
			}
			key, err := f.load()
			if err != nil {
				return err
			}
			tr := types.Transfer{Version: types.PayloadV1, Recipient: recipient, Amount: amt, GasLimit: gasLimit, MaxFeePerGas: fee}
			tx := &types.Transaction{Suite: key.Public().Suite(), PublicKey: key.Public().Bytes(), Nonce: nonce, Payload: tr.Encode()}
			if deterministic {
				err = tx.SignDeterministic(n, key)
			} else {
				err = tx.Sign(n, key)
			}
			if err != nil {
				return err
			}
			raw := hex.EncodeToString(tx.Encode())
			out := cmd.OutOrStdout()
			if !jsonOut {
				_, err := fmt.Fprintln(out, raw)
				return err
			}
			sender := types.AccountIDOf(key.Public())
			return json.NewEncoder(out).Encode(map[string]any{
				"tx_id": tx.ID(n, sender), "sender": sender, "nonce": nonce, "raw": raw,
			})
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&network, "network", "", "devnet, testnet or mainnet (required)")
	fl.Uint64Var(&nonce, "nonce", 0, "the sender account's next nonce")
	fl.StringVar(&to, "to", "", "recipient account id, 64 hex digits (required)")
	fl.StringVar(&amount, "amount", "", "amount to transfer, decimal (required)")
	fl.Uint64Var(&gasLimit, "gas-limit", 0, "gas limit, ≥ intrinsic gas (37352 for a transfer) and ≥ 21000 (required)")
	fl.StringVar(&maxFee, "max-fee-per-gas", "", "maximum fee per gas unit, decimal, ≥ the network's MIN_GAS_PRICE (required)")
	fl.BoolVar(&jsonOut, "json", false, `print {"tx_id","sender","nonce","raw"} instead of the raw hex`)
	fl.BoolVar(&deterministic, "deterministic", false, "deterministic ML-DSA signing (FIPS 204 rnd = 0) instead of hedged; for reproducible test vectors")
	for _, name := range []string{"network", "nonce", "to", "amount", "gas-limit", "max-fee-per-gas"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// decodedTx is the JSON view of a decoded transaction.
type decodedTx struct {
	Suite        uint16          `json:"suite"`
	PublicKey    string          `json:"public_key"`
	Sender       types.AccountID `json:"sender"`
	Nonce        uint64          `json:"nonce"`
	TxID         types.TxID      `json:"tx_id"`
	Payload      *payloadJSON    `json:"payload,omitempty"`
	IntrinsicGas uint64          `json:"intrinsic_gas"`
	Size         int             `json:"size"`
	Network      string          `json:"network"`
	Profile      string          `json:"profile"`
	Valid        bool            `json:"valid"`
	Error        string          `json:"error,omitempty"`
}

type payloadJSON struct {
	Version      string          `json:"version"`
	Recipient    types.AccountID `json:"recipient"`
	Amount       u128.U128       `json:"amount"`
	GasLimit     uint64          `json:"gas_limit,omitempty"`
	MaxFeePerGas *u128.U128      `json:"max_fee_per_gas,omitempty"`
}

var errInvalidTx = errors.New("transaction is not valid")

func newTxDecodeCmd() *cobra.Command {
	var network, profile string
	cmd := &cobra.Command{
		Use:   "decode --network NET RAW_HEX",
		Short: "Decode a raw transaction and check its stateless validity",
		Long: `decode parses a raw transaction, prints its fields as JSON and checks stateless
validity for the network (PROTOCOL.md §4): suite, payload format, gas limit,
minimum fee and the signature. It exits 0 only if the transaction is
well-formed and correctly signed for that network; a transaction that decodes
but fails a check is printed with "valid": false and exits 1; input that does
not decode exits 1 with one error line.

DevNet and TestNet are checked with testnet-beta's rules (the local devnet
runs them) and MainNet with mainnet's, unless --profile says otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := crypto.ParseNetwork(network)
			if err != nil {
				return err
			}
			prof, err := profileFor(n, profile)
			if err != nil {
				return err
			}
			params, _ := types.DefaultExecParams(prof)
			raw, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(args[0]), "0x"))
			if err != nil {
				return fmt.Errorf("raw transaction is not hex: %w", err)
			}
			tx, err := types.DecodeTransaction(raw)
			if err != nil {
				return err
			}
			out := decodedTx{Suite: uint16(tx.Suite), PublicKey: hex.EncodeToString(tx.PublicKey), Sender: tx.Sender(),
				Nonce: tx.Nonce, Size: len(raw), Network: n.String(), Profile: string(prof)}
			out.TxID = tx.ID(n, out.Sender)
			if tr, err := types.ParseTransfer(tx.Payload); err == nil {
				p := &payloadJSON{Version: "v0", Recipient: tr.Recipient, Amount: tr.Amount}
				if tr.Version == types.PayloadV1 {
					p.Version, p.GasLimit, p.MaxFeePerGas = "v1", tr.GasLimit, &tr.MaxFeePerGas
				}
				out.Payload = p
				out.IntrinsicGas = params.IntrinsicGas(tr.Recipient == out.Sender, len(tx.Payload))
			}
			_, checkErr := types.NewChecker(n, params).Check(raw)
			out.Valid = checkErr == nil
			if checkErr != nil {
				out.Error = checkErr.Error()
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			if checkErr != nil {
				return fmt.Errorf("%w: %w", errInvalidTx, checkErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&network, "network", "", "devnet, testnet or mainnet (required)")
	cmd.Flags().StringVar(&profile, "profile", "", "check with this profile's rules (devnet, testnet-alpha, testnet-beta, mainnet)")
	cmd.MarkFlagRequired("network")
	return cmd
}
