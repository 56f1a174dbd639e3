package overlay

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descPeers     = prometheus.NewDesc("warren_overlay_peers", "Enrolled, enabled devices configured as WireGuard peers.", nil, nil)
	descConnected = prometheus.NewDesc("warren_overlay_agents_connected", "Agents whose netmap stream is connected.", nil, nil)
	descHandshake = prometheus.NewDesc("warren_overlay_handshake_age_seconds", "Seconds since the last WireGuard handshake with a device.", []string{"device_id"}, nil)
	descPeerBytes = prometheus.NewDesc("warren_overlay_peer_bytes_total", "WireGuard bytes exchanged with a device.", []string{"device_id", "direction"}, nil)
	descBytes     = prometheus.NewDesc("warren_overlay_bytes_total", "Bytes accepted by the engine's packet filter.", []string{"direction"}, nil)
	descPackets   = prometheus.NewDesc("warren_overlay_packets_total", "Packets accepted by the engine's packet filter.", []string{"direction"}, nil)
	descDropped   = prometheus.NewDesc("warren_overlay_filter_dropped_total", "Packets dropped by the engine's packet filter.", []string{"direction"}, nil)
)

// Collector exposes the overlay's state to Prometheus. Values are read at
// scrape time; nothing is counted twice.
func (o *Overlay) Collector() prometheus.Collector { return collector{o} }

type collector struct{ o *Overlay }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descConnected, descHandshake, descPeerBytes, descBytes, descPackets, descDropped} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.o.snap.Load()
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(s.byKey)))
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(c.o.hub.connected()))
	now := time.Now()
	for _, ps := range c.o.dev.Peers() {
		p, ok := s.byKey[ps.PublicKey]
		if !ok {
			continue
		}
		if !ps.LastHandshake.IsZero() {
			ch <- prometheus.MustNewConstMetric(descHandshake, prometheus.GaugeValue, now.Sub(ps.LastHandshake).Seconds(), p.device.ID)
		}
		ch <- prometheus.MustNewConstMetric(descPeerBytes, prometheus.CounterValue, float64(ps.RxBytes), p.device.ID, "rx")
		ch <- prometheus.MustNewConstMetric(descPeerBytes, prometheus.CounterValue, float64(ps.TxBytes), p.device.ID, "tx")
	}
	st := c.o.dev.Stats()
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.InBytes), "in")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.OutBytes), "out")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(st.InPackets), "in")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(st.OutPackets), "out")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.InDropped), "in")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.OutDropped), "out")
}
