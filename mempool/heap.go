package mempool

import "container/heap"

// tailHeap is a min-heap of evictable entries by priority: the top is the
// lowest-priority one. Entries record their index for O(log n) removal.
type tailHeap struct {
	p  *Pool
	es []*Entry
}

func (h *tailHeap) Len() int           { return len(h.es) }
func (h *tailHeap) Less(i, j int) bool { return h.p.higher(h.es[j], h.es[i]) }
func (h *tailHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].heapIdx = i
	h.es[j].heapIdx = j
}
func (h *tailHeap) Push(x any) {
	e := x.(*Entry)
	e.heapIdx = len(h.es)
	h.es = append(h.es, e)
}
func (h *tailHeap) Pop() any {
	e := h.es[len(h.es)-1]
	h.es[len(h.es)-1] = nil
	h.es = h.es[:len(h.es)-1]
	e.heapIdx = -1
	return e
}

// remove takes e out of the heap if it is there (nil is fine).
func (h *tailHeap) remove(e *Entry) {
	if e != nil && e.heapIdx >= 0 {
		heap.Remove(h, e.heapIdx)
	}
}

// headHeap orders batchable heads highest priority first.
type headHeap struct {
	p  *Pool
	es []*Entry
}

func (h *headHeap) Len() int           { return len(h.es) }
func (h *headHeap) Less(i, j int) bool { return h.p.higher(h.es[i], h.es[j]) }
func (h *headHeap) Swap(i, j int)      { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *headHeap) Push(x any)         { h.es = append(h.es, x.(*Entry)) }
func (h *headHeap) Pop() any {
	e := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return e
}
