package benchreport

// AttentionRan is the attention arithmetic the runs computed in, as the
// table and the chart show it: "f32" on the CPU, which computes attention in
// f32 whatever --attention said (i2v's start line says the same), else
// AttentionOrDefault. Comparisons and estimates keep AttentionOrDefault,
// the --attention setting the report records.
func (s Settings) AttentionRan() string {
	if s.Device == "cpu" {
		return "f32"
	}
	return s.AttentionOrDefault()
}
