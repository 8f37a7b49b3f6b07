package conformance

import (
	"slices"

	"github.com/raftlock/raftlock/backend"
)

// fifoTests check the order in which a store that declares FIFO (and
// Priorities) serves its waiters (promise 5).
func fifoTests() []test {
	return []test{
		{"GrantsInArrivalOrder", fifoArrivalOrder},
		{"GetListsWaitersInOrder", fifoListing},
		{"OrderSurvivesCancel", fifoCancel},
		{"OrderSurvivesExpiry", fifoExpiry},
		{"HigherPriorityFirst", fifoPriorities},
		{"GetListsWaitersByPriority", fifoPriorityListing},
	}
}

// queueUp starts one waiter per priority, each only once the previous one
// is queued, so that their arrival order is the order of the slice.
func (x *sub) queueUp(d *driver, lockID string, priorities []int32) ([]*client, []*pending) {
	x.Helper()
	ws := make([]*client, len(priorities))
	ps := make([]*pending, len(priorities))
	for i, prio := range priorities {
		ws[i] = x.client()
		ps[i] = ws[i].start(backend.AcquireRequest{LockID: lockID, TTL: x.long(), Wait: true, Priority: prio})
		x.waitQueued(d, lockID, ws[i].id)
	}
	return ws, ps
}

// serveInOrder releases the lock from holder on, one grant at a time, and
// checks that the waiters are served in the order want (indexes into ws).
func (x *sub) serveInOrder(lockID string, holder *client, version int64, ws []*client, ps []*pending, want []int) {
	x.Helper()
	for _, i := range want {
		holder.mustRelease(lockID, version)
		info, err := holder.get(lockID, false)
		x.noErr(err, "Get after Release")
		if info.Owner != ws[i].id {
			x.Fatalf("lock handed to %q, want %q (waiter %d of the order %v)", info.Owner, ws[i].id, i, want)
		}
		g, err := ps[i].wait()
		x.noErr(err, "waiter %d", i)
		if g.Version != info.Version {
			x.Errorf("waiter %d granted version %d, Get saw %d", i, g.Version, info.Version)
		}
		for j, p := range ps {
			if !slices.Contains(want, j) {
				continue
			}
			if j != i && p.returned() && slices.Index(want, j) > slices.Index(want, i) {
				x.Fatalf("waiter %d was answered before its turn (order %v)", j, want)
			}
		}
		holder, version = ws[i], g.Version
	}
	holder.mustRelease(lockID, version)
}

func fifoArrivalOrder(x *sub) {
	x.needFIFO()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ws, ps := x.queueUp(a.driver, id, make([]int32, 5))
	x.serveInOrder(id, a, g.Version, ws, ps, []int{0, 1, 2, 3, 4})
	x.wantFree(a.driver, id, "after every waiter was served")
}

func fifoListing(x *sub) {
	x.needFIFO()
	a := x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	ws, _ := x.queueUp(a.driver, id, make([]int32, 4))
	want := make([]string, len(ws))
	for i, w := range ws {
		want[i] = w.id
	}
	if got := x.waiterIDs(a.driver, id); !slices.Equal(got, want) {
		x.Errorf("queue is %v, want arrival order %v", got, want)
	}
}

func fifoCancel(x *sub) {
	x.needFIFO()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ws, ps := x.queueUp(a.driver, id, make([]int32, 4))
	ps[1].cancel()
	_, err := ps[1].wait()
	x.wantErr(err, backend.ErrCanceled, "cancelled waiter")
	want := []string{ws[0].id, ws[2].id, ws[3].id}
	if got := x.waiterIDs(a.driver, id); !slices.Equal(got, want) {
		x.Errorf("after a cancel the queue is %v, want %v", got, want)
	}
	x.serveInOrder(id, a, g.Version, ws, ps, []int{0, 2, 3})
	x.wantFree(a.driver, id, "after every waiter was served")
}

func fifoExpiry(x *sub) {
	x.needFIFO()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	ws, ps := x.queueUp(a.driver, id, make([]int32, 3))
	g0, err := ps[0].wait()
	x.noErr(err, "head waiter after the holder's lease ran out")
	if g0.Recv.Before(g.safeUntil()) {
		x.Fatalf("head waiter granted %v after the holder sent its Acquire with TTL %v", g0.Recv.Sub(g.Sent), g.TTL)
	}
	ps[1].mustBlock("while the head waiter holds the lock")
	ps[2].mustBlock("while the head waiter holds the lock")
	x.serveInOrder(id, ws[0], g0.Version, ws, ps, []int{1, 2})
}

// prioritiesCase arrives in this order; the store must serve the highest
// priority first and equal priorities in arrival order.
var (
	prioritiesCase  = []int32{1, 5, 3, 5, 10, -2}
	prioritiesOrder = []int{4, 1, 3, 2, 0, 5}
)

func fifoPriorities(x *sub) {
	x.needPriorities()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ws, ps := x.queueUp(a.driver, id, prioritiesCase)
	x.serveInOrder(id, a, g.Version, ws, ps, prioritiesOrder)
}

func fifoPriorityListing(x *sub) {
	x.needPriorities()
	a := x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	ws, _ := x.queueUp(a.driver, id, prioritiesCase)
	want := make([]string, len(ws))
	for i, j := range prioritiesOrder {
		want[i] = ws[j].id
	}
	if got := x.waiterIDs(a.driver, id); !slices.Equal(got, want) {
		x.Errorf("queue is %v, want %v (by priority, then arrival)", got, want)
	}
	info, err := a.get(id, true)
	x.noErr(err, "Get with waiters")
	for _, w := range info.Waiters {
		i := slices.IndexFunc(ws, func(c *client) bool { return c.id == w.ClientID })
		if i >= 0 && w.Priority != prioritiesCase[i] {
			x.Errorf("waiter %s listed with priority %d, it asked for %d", w.ClientID, w.Priority, prioritiesCase[i])
		}
	}
}
