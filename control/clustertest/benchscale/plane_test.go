package main

import "testing"

func TestParseMemStatus(t *testing.T) {
	status := "Name:\tbench\nVmPeak:\t 9000 kB\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t   600 kB\nRssFile:\t   400 kB\nRssShmem:\t    24 kB\n"
	m, err := parseMemStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	want := memStatus{hwm: 2048 << 10, rss: 1024 << 10, anon: 600 << 10, file: 424 << 10}
	if m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if _, err := parseMemStatus("Name:\tbench\n"); err == nil {
		t.Error("a status without memory figures parsed")
	}
	if _, err := parseMemStatus("VmHWM:\tlots kB\n"); err == nil {
		t.Error("a malformed VmHWM parsed")
	}
}
