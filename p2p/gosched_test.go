package p2p

import "runtime"

func runtime_Gosched() { runtime.Gosched() }
