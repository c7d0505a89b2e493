package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/p2p/bench"
)

func newBenchP2PCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "p2p",
		Short: "Measure KEMTLS handshakes and framed throughput over loopback",
		Long: `p2p runs KEMTLS handshakes (ML-KEM-768, ML-DSA-44 certificates) and encrypted
frame transfers between two endpoints on a loopback address, and prints:

  handshakes_per_s          sequential handshakes per second (one client)
  handshake_ms              mean handshake latency over TCP
  frame_mb_per_s            1 MiB frames, MiB/s through one session
  msg_per_s_1kb             1 KiB frames per second through one session
  handshake_client_cpu_ms   state-machine time per handshake, client side
  handshake_server_cpu_ms   the same, server side`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, _ := cmd.Flags().GetInt("handshakes")
			d, _ := cmd.Flags().GetDuration("duration")
			addr, _ := cmd.Flags().GetString("addr")
			asJSON, _ := cmd.Flags().GetBool("json")
			r, err := bench.Run(cmd.Context(), bench.Options{Handshakes: n, Duration: d, Addr: addr})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(out, string(b))
				return err
			}
			fmt.Fprintf(out, "handshakes/s           %10.1f\n", r.HandshakesPerS)
			fmt.Fprintf(out, "handshake latency      %10.3f ms\n", r.HandshakeMs)
			fmt.Fprintf(out, "handshake CPU client   %10.3f ms\n", r.ClientCPUMs)
			fmt.Fprintf(out, "handshake CPU server   %10.3f ms\n", r.ServerCPUMs)
			fmt.Fprintf(out, "1 MiB frames           %10.1f MiB/s\n", r.FrameMBPerS)
			fmt.Fprintf(out, "1 KiB messages         %10.0f /s\n", r.MsgPerS1KB)
			return nil
		},
	}
	cmd.Flags().Int("handshakes", 200, "number of sequential loopback handshakes")
	cmd.Flags().Duration("duration", 2*time.Second, "duration of each throughput phase")
	cmd.Flags().String("addr", "127.0.0.1:0", "loopback listen address")
	cmd.Flags().Bool("json", false, "print one JSON object")
	return cmd
}
