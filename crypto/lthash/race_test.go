//go:build race

package lthash

const raceEnabled = true
