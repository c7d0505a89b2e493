//go:build !race

package lthash

const raceEnabled = false
