package main

import (
	"encoding/json"
	"testing"
)

func TestSimCommand(t *testing.T) {
	out, err := run(t, newSimCmd(), "--seconds", "3", "--seed", "3", "--json")
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, out)
	}
	var res simResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.InvariantsPassed || len(res.Nodes) != 4 || res.Certificates == 0 {
		t.Fatalf("result %+v", res)
	}
	for _, nd := range res.Nodes {
		if nd.CommittedHeight < 5 || nd.ExecutedTxs == 0 {
			t.Fatalf("validator %d: height %d, %d txs", nd.Validator, nd.CommittedHeight, nd.ExecutedTxs)
		}
	}
	again, _ := run(t, newSimCmd(), "--seconds", "3", "--seed", "3", "--json")
	var res2 simResult
	json.Unmarshal([]byte(again), &res2)
	if res2.Events != res.Events || res2.Nodes[0].CommittedHeight != res.Nodes[0].CommittedHeight {
		t.Fatal("same seed, different run")
	}
}

func TestSimFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--validators", "0"},
		{"--partition", "0,1"},
		{"--partition", "0,9|1", "--validators", "4"},
		{"--partition", "0|1", "--partition-at", "5000", "--heal-at", "1000"},
	} {
		if _, err := run(t, newSimCmd(), args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
