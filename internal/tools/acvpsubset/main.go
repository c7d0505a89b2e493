// Command acvpsubset extracts the ML-DSA-44 and ML-KEM-768 subset of the NIST
// ACVP known-answer vectors that circl ships, into testdata/acvp/.
//
// The NIST ACVP-Server JSON files (prompt.json and expectedResults.json for
// each algorithm mode) are vendored gzipped by github.com/cloudflare/circl under
// sign/mldsa/testdata/ and kem/mlkem/testdata/. This program keeps the test
// groups whose parameterSet is ML-DSA-44 or ML-KEM-768 and, from
// expectedResults, the groups with the same tgId. It keeps the ACVP structure
// (the top-level fields, testGroups, each group's fields and tests), checks that
// every kept prompt test has exactly one result with the same tcId, writes
// compact JSON and gzips it deterministically (no name, no timestamp), so that a
// re-run produces byte-identical files.
//
// Re-run from the repository root (circl must be in the module cache, which any
// build of this module ensures):
//
//	go run ./internal/tools/acvpsubset
//	git diff --exit-code testdata/acvp
//
// Flags: -circl DIR (default: `go list -m -f {{.Dir}} github.com/cloudflare/circl`)
// and -out DIR (default testdata/acvp).
//
// circl's ML-DSA files predate the final ACVP revision of FIPS 204 (no
// external/pure groups, no contexts). The final-revision ML-DSA-44 groups come
// from github.com/geomys/acvp-testdata, the trimmed copy of the NIST ACVTS demo
// server vectors that the Go standard library's own FIPS 140 tests use (at the
// version Go 1.26's crypto/internal/fips140test pins); they are written to
// testdata/acvp/final/. -geomys DIR overrides the module directory (default:
// `go mod download -json` of that version).
package main

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// subset names one ACVP vector set in circl and the parameter set to keep.
type subset struct {
	dir          string // relative to the circl module root
	parameterSet string
}

var subsets = []subset{
	{"sign/mldsa/testdata/ML-DSA-keyGen-FIPS204", "ML-DSA-44"},
	{"sign/mldsa/testdata/ML-DSA-sigGen-FIPS204", "ML-DSA-44"},
	{"sign/mldsa/testdata/ML-DSA-sigVer-FIPS204", "ML-DSA-44"},
	{"kem/mlkem/testdata/ML-KEM-keyGen-FIPS203", "ML-KEM-768"},
	{"kem/mlkem/testdata/ML-KEM-encapDecap-FIPS203", "ML-KEM-768"},
}

// geomysModule is the final-revision ACVP data at the version Go 1.26's
// crypto/internal/fips140test pins (goAcvpModule, goAcvpVersion).
const geomysModule = "github.com/geomys/acvp-testdata@v0.0.0-20251201200548-d893de8b8b1c"

func main() {
	circl := flag.String("circl", "", "circl module directory (default: from go list -m)")
	geomys := flag.String("geomys", "", "geomys/acvp-testdata module directory (default: go mod download "+geomysModule+")")
	out := flag.String("out", filepath.Join("testdata", "acvp"), "output directory")
	flag.Parse()
	if err := run(*circl, *out); err != nil {
		fmt.Fprintln(os.Stderr, "acvpsubset:", err)
		os.Exit(1)
	}
	if err := runFinal(*geomys, filepath.Join(*out, "final")); err != nil {
		fmt.Fprintln(os.Stderr, "acvpsubset:", err)
		os.Exit(1)
	}
}

// runFinal writes the ML-DSA-44 groups of the final-revision vectors. The
// geomys files hold, per algorithm, one JSON array of vector sets (after an
// acvVersion header) for the prompts and one for the expected results; each
// vector set becomes a prompt.json.gz / expectedResults.json.gz pair named
// like the circl sets.
func runFinal(geomys, out string) error {
	if geomys == "" {
		b, err := exec.Command("go", "mod", "download", "-json", geomysModule).Output()
		if err != nil {
			return fmt.Errorf("downloading %s (pass -geomys): %w", geomysModule, err)
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(b, &info); err != nil || info.Dir == "" {
			return fmt.Errorf("go mod download %s: no module directory (%v)", geomysModule, err)
		}
		geomys = info.Dir
	}
	prompts, err := readBz2Sets(filepath.Join(geomys, "vectors", "ML-DSA.bz2"))
	if err != nil {
		return err
	}
	expected, err := readBz2Sets(filepath.Join(geomys, "expected", "ML-DSA.bz2"))
	if err != nil {
		return err
	}
	for vsID, p := range prompts {
		var head struct {
			Algorithm, Mode, Revision string
		}
		if err := json.Unmarshal(p, &head); err != nil {
			return err
		}
		r, ok := expected[vsID]
		if !ok {
			return fmt.Errorf("final vector set %d (%s %s): no expected results", vsID, head.Algorithm, head.Mode)
		}
		pOut, rOut, groups, tests, err := filter(p, r, "ML-DSA-44")
		if err != nil {
			return fmt.Errorf("final %s %s: %w", head.Algorithm, head.Mode, err)
		}
		name := fmt.Sprintf("%s-%s-%s", head.Algorithm, head.Mode, head.Revision)
		dst := filepath.Join(out, name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := writeGz(filepath.Join(dst, "prompt.json.gz"), pOut); err != nil {
			return err
		}
		if err := writeGz(filepath.Join(dst, "expectedResults.json.gz"), rOut); err != nil {
			return err
		}
		fmt.Printf("final/%s: ML-DSA-44: %d groups, %d tests\n", name, groups, tests)
	}
	return nil
}

// readBz2Sets reads a geomys file: a JSON array whose first element is the
// {"acvVersion"} header and whose others are vector sets, keyed here by vsId.
func readBz2Sets(path string) (map[int][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var doc []json.RawMessage
	if err := json.NewDecoder(bzip2.NewReader(f)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sets := make(map[int][]byte)
	for _, raw := range doc {
		var head struct {
			VsID *int `json:"vsId"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if head.VsID == nil {
			continue // the acvVersion header
		}
		if _, dup := sets[*head.VsID]; dup {
			return nil, fmt.Errorf("%s: duplicate vsId %d", path, *head.VsID)
		}
		sets[*head.VsID] = raw
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s: no vector sets", path)
	}
	return sets, nil
}

func run(circl, out string) error {
	if circl == "" {
		b, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cloudflare/circl").Output()
		if err != nil {
			return fmt.Errorf("locating circl (pass -circl): %w", err)
		}
		circl = strings.TrimSpace(string(b))
		if circl == "" {
			return errors.New("circl is not in the module cache: run go mod download github.com/cloudflare/circl")
		}
	}
	for _, s := range subsets {
		src := filepath.Join(circl, filepath.FromSlash(s.dir))
		prompt, err := readGz(filepath.Join(src, "prompt.json.gz"))
		if err != nil {
			return err
		}
		results, err := readGz(filepath.Join(src, "expectedResults.json.gz"))
		if err != nil {
			return err
		}
		p, r, groups, tests, err := filter(prompt, results, s.parameterSet)
		if err != nil {
			return fmt.Errorf("%s: %w", s.dir, err)
		}
		dst := filepath.Join(out, filepath.Base(s.dir))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := writeGz(filepath.Join(dst, "prompt.json.gz"), p); err != nil {
			return err
		}
		if err := writeGz(filepath.Join(dst, "expectedResults.json.gz"), r); err != nil {
			return err
		}
		fmt.Printf("%s: %s: %d groups, %d tests\n", filepath.Base(s.dir), s.parameterSet, groups, tests)
	}
	return nil
}

type groupHead struct {
	TgID         *int   `json:"tgId"`
	ParameterSet string `json:"parameterSet"`
	Tests        []struct {
		TcID *int `json:"tcId"`
	} `json:"tests"`
}

// filter returns the prompt and expectedResults documents reduced to the
// groups of parameterSet, with the number of groups and tests kept.
func filter(prompt, results []byte, parameterSet string) (p, r []byte, nGroups, nTests int, err error) {
	var pDoc, rDoc map[string]json.RawMessage
	if err = json.Unmarshal(prompt, &pDoc); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("prompt: %w", err)
	}
	if err = json.Unmarshal(results, &rDoc); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("expectedResults: %w", err)
	}
	var pGroups, rGroups []json.RawMessage
	if err = json.Unmarshal(pDoc["testGroups"], &pGroups); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("prompt testGroups: %w", err)
	}
	if err = json.Unmarshal(rDoc["testGroups"], &rGroups); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("expectedResults testGroups: %w", err)
	}
	resultsByTg := make(map[int]json.RawMessage, len(rGroups))
	for _, g := range rGroups {
		var h groupHead
		if err = json.Unmarshal(g, &h); err != nil || h.TgID == nil {
			return nil, nil, 0, 0, fmt.Errorf("expectedResults group without tgId (%v)", err)
		}
		if _, dup := resultsByTg[*h.TgID]; dup {
			return nil, nil, 0, 0, fmt.Errorf("expectedResults: duplicate tgId %d", *h.TgID)
		}
		resultsByTg[*h.TgID] = g
	}
	var keptP, keptR []json.RawMessage
	for _, g := range pGroups {
		var h groupHead
		if err = json.Unmarshal(g, &h); err != nil || h.TgID == nil {
			return nil, nil, 0, 0, fmt.Errorf("prompt group without tgId (%v)", err)
		}
		if h.ParameterSet != parameterSet {
			continue
		}
		rg, ok := resultsByTg[*h.TgID]
		if !ok {
			return nil, nil, 0, 0, fmt.Errorf("tgId %d: no expected results", *h.TgID)
		}
		var rh groupHead
		if err = json.Unmarshal(rg, &rh); err != nil {
			return nil, nil, 0, 0, err
		}
		if err = sameTcIDs(h, rh); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("tgId %d: %w", *h.TgID, err)
		}
		keptP = append(keptP, g)
		keptR = append(keptR, rg)
		nTests += len(h.Tests)
	}
	if len(keptP) == 0 {
		return nil, nil, 0, 0, fmt.Errorf("no group with parameterSet %s", parameterSet)
	}
	if p, err = rebuild(pDoc, keptP); err != nil {
		return nil, nil, 0, 0, err
	}
	if r, err = rebuild(rDoc, keptR); err != nil {
		return nil, nil, 0, 0, err
	}
	return p, r, len(keptP), nTests, nil
}

// sameTcIDs checks that prompt and result groups hold the same tcIds, once each.
func sameTcIDs(p, r groupHead) error {
	seen := make(map[int]int)
	for _, t := range p.Tests {
		if t.TcID == nil {
			return errors.New("prompt test without tcId")
		}
		seen[*t.TcID]++
	}
	for _, t := range r.Tests {
		if t.TcID == nil {
			return errors.New("result test without tcId")
		}
		seen[*t.TcID]--
	}
	if len(p.Tests) == 0 {
		return errors.New("empty group")
	}
	for id, n := range seen {
		if n != 0 || len(p.Tests) != len(r.Tests) {
			return fmt.Errorf("tcId %d is not matched one-to-one between prompt and expectedResults", id)
		}
	}
	return nil
}

// rebuild replaces testGroups in doc and encodes it compactly (encoding/json
// sorts the top-level keys; the groups keep their bytes, minus whitespace).
func rebuild(doc map[string]json.RawMessage, groups []json.RawMessage) ([]byte, error) {
	for i, g := range groups {
		var buf bytes.Buffer
		if err := json.Compact(&buf, g); err != nil {
			return nil, err
		}
		groups[i] = buf.Bytes()
	}
	tg, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	out["testGroups"] = tg
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func readGz(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, zr.Close()
}

func writeGz(path string, data []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
