package plural

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Count(1, "head"), "1 head"},
		{Count(0, "head"), "0 heads"},
		{Count(40, "layer"), "40 layers"},
		{Count(-1, "byte"), "-1 bytes"},
		{Count(int64(1), "byte"), "1 byte"},
		{Count(int64(1)<<40, "byte"), "1099511627776 bytes"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
