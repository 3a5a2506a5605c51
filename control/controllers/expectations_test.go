package controllers

import (
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

// TestExpectationsOfOnePass: creations and deletions of one pass add up,
// the controller is held until both are seen, and the next pass starts
// from nothing once it was let through.
func TestExpectationsOfOnePass(t *testing.T) {
	clk := testclock.NewFakeClock(fxNow)
	e := newExpectations(clk, workloadExpectationsTimeout)
	e.ExpectCreations("ds", 1)
	e.ExpectDeletions("ds", []string{"ns/old"})
	e.CreationObserved("ds")
	if e.Satisfied("ds") {
		t.Fatal("satisfied with the deletion of ns/old pending, want held")
	}
	e.DeletionObserved("ds", "ns/old")
	if !e.Satisfied("ds") {
		t.Fatal("held after the creation and the deletion were seen, want satisfied")
	}
	e.CreationObserved("ds") // a late duplicate event must not leave a debt
	e.ExpectCreations("ds", 1)
	if e.Satisfied("ds") {
		t.Fatal("satisfied with the next pass's creation pending, want held")
	}
	clk.Step(workloadExpectationsTimeout + time.Second)
	if !e.Satisfied("ds") || e.Timeout() != workloadExpectationsTimeout {
		t.Fatalf("after %s: satisfied %v, timeout %s; want satisfied and %s", workloadExpectationsTimeout+time.Second,
			e.Satisfied("ds"), e.Timeout(), workloadExpectationsTimeout)
	}
}
