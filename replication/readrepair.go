package replication

import (
	"time"
)

// readRepair waits for the answers still pending, then pushes the winner to
// every holder that answered with an older copy or none.
func (m *Manager) readRepair(got []answer, more <-chan answer, pending int) {
	timeout := time.NewTimer(m.cfg.RPCTimeout)
	defer timeout.Stop()
wait:
	for ; pending > 0; pending-- {
		select {
		case a := <-more:
			got = append(got, a)
		case <-timeout.C:
			break wait
		case <-m.ctx.Done():
			return
		}
	}
	best := m.winner(got)
	if best == nil || best.Expired(time.Now().UnixNano()) {
		return
	}
	for _, a := range got {
		if a.err == nil && (a.rec == nil || a.rec.Compare(best) < 0) {
			if m.pushLimit.Wait(m.ctx) != nil {
				return
			}
			c, cancel := m.rpcContext()
			if m.tr.push(c, a.peer, best) == nil {
				m.repairs.Add(1)
				m.readFixes.Add(1)
			}
			cancel()
		}
	}
}
