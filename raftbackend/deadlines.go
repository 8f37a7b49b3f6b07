package raftbackend

import "container/heap"

// deadline is a moment at which the leader must propose a command: the
// expiry of a grant (clientID == "") or the end of a waiter's wait.
//
// The heap is lazy: a deadline that moves (a renewal, a LeaderChange) pushes
// a new item and leaves the old one, which the state machine recognises as
// stale (see fsm.valid) and drops when it reaches the top. compact bounds
// the garbage.
type deadline struct {
	at       int64
	lockID   string
	clientID string
	version  int64
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return d
}

func (h *deadlineHeap) push(d deadline) { heap.Push(h, d) }
func (h *deadlineHeap) pop() deadline   { return heap.Pop(h).(deadline) }

// keep drops the items for which live is false and restores the heap order.
func (h *deadlineHeap) keep(live func(deadline) bool) {
	old := *h
	n := 0
	for _, d := range old {
		if live(d) {
			old[n] = d
			n++
		}
	}
	clear(old[n:])
	*h = old[:n]
	heap.Init(h)
}
