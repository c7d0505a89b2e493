package simulate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// pct formats basis points as a percentage with two decimals, exactly.
func pct(bps uint64) string { return fmt.Sprintf("%d.%02d%%", bps/100, bps%100) }

// WriteTable prints the transitions and one aligned row per month.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d years (%d epochs), fees/epoch %g growing %g/year, staked %s, supply %s, burn %s, restake %v\n",
		r.Years, r.Epochs, r.FeesPerEpoch, r.FeeGrowth, r.StakedStart, r.Supply, pct(r.BurnBps), r.Restake)
	if len(r.Transitions) == 0 {
		fmt.Fprintln(tw, "no phase transition")
	}
	for _, t := range r.Transitions {
		fmt.Fprintf(tw, "%s → %s: gates passed at epoch %d, effective from epoch %d\n", t.From, t.To, t.Epoch, t.EffectiveFrom)
	}
	fmt.Fprintf(tw, "total issuance %s\n\n", r.TotalIssuance)
	fmt.Fprintln(tw, "month\tend epoch\tphase\tr_inf\tissuance/month\tfee coverage\tstake ratio\tstaked\tcirculating\t")
	for _, m := range r.Months {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Month, m.EndEpoch, m.Phase, pct(uint64(m.RInfBps)),
			m.Issuance, pct(m.FeeCoverageBps), pct(uint64(m.StakeRatioBps)), m.Staked, m.Circulating)
	}
	return tw.Flush()
}

// CSVHeader is the first line of WriteCSV's output. max_r_step_bps is the
// largest per-epoch |Δr| within the month (Month.MaxRStepBps).
var CSVHeader = []string{"month", "end_epoch", "phase", "r_inf_bps", "issuance", "fee_coverage_bps",
	"stake_ratio_bps", "staked", "circulating", "fees_last_epoch", "max_r_step_bps"}

// WriteCSV prints one row per month, integers in base units and bps.
func WriteCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, m := range r.Months {
		row := []string{strconv.Itoa(m.Month), strconv.FormatUint(m.EndEpoch, 10), m.Phase,
			strconv.FormatUint(uint64(m.RInfBps), 10), m.Issuance.String(), strconv.FormatUint(m.FeeCoverageBps, 10),
			strconv.FormatUint(uint64(m.StakeRatioBps), 10), m.Staked.String(), m.Circulating, m.FeesLastEpoch.String(),
			strconv.FormatUint(uint64(m.MaxRStepBps), 10)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON prints the whole result (amounts as decimal strings).
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
