package datastreams

import "github.com/prometheus/client_golang/prometheus"

// floorMetrics are the free-space floor's counters and the data
// directory's filesystem gauges (read with a statfs at each scrape).
type floorMetrics struct {
	deletions      prometheus.Counter
	records        prometheus.Counter
	bytes          prometheus.Counter
	diskFullErrors prometheus.Counter
	// Uploaded segments whose local copy the floor removed (no record lost).
	localDrops prometheus.Counter
	localBytes prometheus.Counter
}

func newFloorMetrics(reg prometheus.Registerer, disk func() (free, total uint64, err error), minFree FreeSpace) *floorMetrics {
	m := &floorMetrics{
		deletions: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_floor_deletions_total",
			Help: "Segments deleted (records lost), oldest first across all streams, to keep storage.min_free free."}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_floor_records_total",
			Help: "Records (fragments, for video streams) in the segments the free-space floor deleted."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_floor_bytes_total",
			Help: "Bytes of the segments the free-space floor deleted."}),
		diskFullErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_disk_full_errors_total",
			Help: "Group commits refused because the data directory's filesystem was full (ENOSPC, EDQUOT)."}),
		localDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_floor_local_drops_total",
			Help: "Segments already in object storage whose local copy the free-space floor removed (no record lost)."}),
		localBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_floor_local_dropped_bytes_total",
			Help: "Bytes of the local copies of uploaded segments the free-space floor removed (the data stays in object storage)."}),
	}
	if reg == nil {
		return m
	}
	stat := func(pick func(free, total uint64) uint64) func() float64 {
		return func() float64 {
			free, total, err := disk()
			if err != nil {
				return 0
			}
			return float64(pick(free, total))
		}
	}
	reg.MustRegister(m.deletions, m.records, m.bytes, m.diskFullErrors, m.localDrops, m.localBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_disk_free_bytes",
			Help: "Bytes available to Eddy on the data directory's filesystem."},
			stat(func(free, _ uint64) uint64 { return free })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_disk_size_bytes",
			Help: "Size of the data directory's filesystem."},
			stat(func(_, total uint64) uint64 { return total })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_disk_min_free_bytes",
			Help: "The free-space floor (storage.min_free) in bytes; below it retention deletes the oldest data (0: no floor)."},
			stat(func(_, total uint64) uint64 { return minFree.Of(total) })))
	return m
}
