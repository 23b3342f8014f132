// Package netdelay holds a network namespace's outgoing packets for a fixed
// time in user space: a test tool for kernels without the netem qdisc.
//
// An iptables rule in the namespace sends packets to an NFQUEUE
// (iptables -A OUTPUT -j NFQUEUE --queue-num Q --queue-bypass); a Delayer
// bound to queue Q receives each packet's ID over netfilter's netlink
// protocol (nfnetlink_queue) and accepts it once the delay has passed.
// Packets keep their order, since all wait equally long. The packet data
// never leaves the kernel (copy mode "meta"). With --queue-bypass, packets
// pass undelayed when no Delayer listens, and the queue fails open when it
// is full, so the tool can slow traffic but never black-hole it.
//
// Loss is not done here: iptables' statistic match drops at random.
//
// Queues belong to a network namespace: run one Delayer per namespace (for
// a container, from the host with nsenter -t PID -n). It needs
// CAP_NET_ADMIN in that namespace. The node binary does not use this
// package.
package netdelay
