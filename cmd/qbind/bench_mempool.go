package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/qbind/qbind/mempool/bench"
	"github.com/spf13/cobra"
)

func newBenchMempoolCmd() *cobra.Command {
	var benchMempoolFlags struct {
		txs     int
		senders int
		json    bool
	}

	cmd := &cobra.Command{
		Use:   "mempool",
		Short: "Measure mempool admission against raw ML-DSA-44 verification",
		Long: `mempool pre-signs --txs transfers from --senders keys (in parallel, not timed), then
measures on GOMAXPROCS goroutines:
  verify_per_s_raw  circl mldsa44.Verify over pre-parsed keys and precomputed preimages;
  admitted_per_s    full admission of the same txs into a fresh fee-priority pool: size cap,
                    decode, sender via the key cache, tx_id, payload rules, signature
                    (worker pool), then the pool's nonce/balance/priority checks in order.
ratio = admitted_per_s / verify_per_s_raw (target ≥ 0.85).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := bench.Run(benchMempoolFlags.txs, benchMempoolFlags.senders, time.Now)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if benchMempoolFlags.json {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(out, string(b))
				return err
			}
			fmt.Fprintf(out, "txs %d, senders %d, GOMAXPROCS %d\n", r.Txs, benchMempoolFlags.senders, runtime.GOMAXPROCS(0))
			fmt.Fprintf(out, "raw verify   %10.0f /s\nadmission    %10.0f /s\nratio        %10.3f\n", r.VerifyPerSRaw, r.AdmittedPerS, r.Ratio)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&benchMempoolFlags.txs, "txs", 20000, "transactions to sign and admit")
	f.IntVar(&benchMempoolFlags.senders, "senders", 16, "distinct sender keys")
	f.BoolVar(&benchMempoolFlags.json, "json", false, `print {"txs","admitted_per_s","verify_per_s_raw","ratio"}`)
	return cmd
}
