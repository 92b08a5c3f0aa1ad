package server

import (
	"context"
	"strconv"
	"time"

	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// Metrics is sysemu's Prometheus registry. cmd creates it before the store
// so store transactions can be timed (store.Timed(st, m.ObserveStoreTx));
// the server adds its own collectors and serves it at /metrics.
type Metrics struct {
	reg         *prometheus.Registry
	storeTx     *prometheus.HistogramVec
	queries     *prometheus.CounterVec
	queryErrors *prometheus.CounterVec
	fastPath    prometheus.Counter
}

// NewMetrics makes an empty registry with the store and statement metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		storeTx: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sysemu_store_transaction_seconds", Help: "Store transaction latency by kind (view, update) and outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op", "outcome"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sysemu_statements_total", Help: "Statements run over the MySQL protocol, by outcome.",
		}, []string{"outcome"}),
		queryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sysemu_query_errors_total", Help: "Errors returned to MySQL clients, by MySQL error number.",
		}, []string{"code"}),
		fastPath: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sysemu_fast_path_statements_total", Help: "Statements planned without the analyzer (point selects, admin function reads).",
		}),
	}
	m.reg.MustRegister(m.storeTx, m.queries, m.queryErrors, m.fastPath, prometheus.NewGoCollector())
	return m
}

// ObserveStoreTx records one store transaction (store.Timed's callback).
func (m *Metrics) ObserveStoreTx(op string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.storeTx.WithLabelValues(op, outcome).Observe(d.Seconds())
}

func (m *Metrics) queryDone(success bool, _ time.Duration) {
	outcome := "ok"
	if !success {
		outcome = "error"
	}
	m.queries.WithLabelValues(outcome).Inc()
}

func (m *Metrics) queryError(code int) { m.queryErrors.WithLabelValues(strconv.Itoa(code)).Inc() }

// registerServer adds the collectors that read the server's state.
func (m *Metrics) registerServer(s *Server) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sysemu_connections", Help: "Open MySQL connections."},
			func() float64 { return float64(s.stats.connections.Load()) }),
		statusCollector{s},
	)
}

var (
	descNext  = prometheus.NewDesc("sysemu_id_next", "The next value an ID space hands out.", []string{"space", "kind"}, nil)
	descUsed  = prometheus.NewDesc("sysemu_id_highest_used", "The highest value in use in an ID space.", []string{"space", "kind"}, nil)
	descMax   = prometheus.NewDesc("sysemu_id_max", "The largest value an ID space can hand out.", []string{"space", "kind"}, nil)
	descAlloc = prometheus.NewDesc("sysemu_id_allocated_total", "Values of an ID space handed out up to now (the highest used value); rate() is allocations per second.", []string{"space", "kind"}, nil)
	descRange = prometheus.NewDesc("sysemu_identity_range_usage_ratio", "Share of a node's identity range in use (SYS_IDENTITY_RANGES.USAGE_PCT / 100).", []string{"table", "node", "range"}, nil)
	descThr   = prometheus.NewDesc("sysemu_identity_range_threshold_ratio", "Usage at which a node's identity range is replaced (THRESHOLD / 100).", []string{"table", "node", "range"}, nil)
)

// statusCollector reads the system tables at every scrape.
type statusCollector struct{ s *Server }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNext, descUsed, descMax, descAlloc, descRange, descThr} {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.s.readStatus(ctx, 0)
	if err != nil {
		c.s.log.WithError(err).Warn("metrics: reading the system tables")
		ch <- prometheus.NewInvalidMetric(descNext, err)
		return
	}
	for _, sp := range st.Spaces {
		ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, float64(sp.Next), sp.Name, sp.Kind)
		ch <- prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(sp.Used), sp.Name, sp.Kind)
		ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(sp.Max), sp.Name, sp.Kind)
		ch <- prometheus.MustNewConstMetric(descAlloc, prometheus.CounterValue, float64(max(sp.Used, 0)), sp.Name, sp.Kind)
	}
	for _, r := range st.Ranges {
		node := strconv.FormatInt(r.Node, 10)
		ch <- prometheus.MustNewConstMetric(descRange, prometheus.GaugeValue, float64(r.UsagePct)/100, r.Table, node, r.Kind)
		ch <- prometheus.MustNewConstMetric(descThr, prometheus.GaugeValue, float64(r.Thresh)/100, r.Table, node, r.Kind)
	}
}

func (m *Metrics) handler(log *logrus.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: log, ErrorHandling: promhttp.ContinueOnError})
}
