package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
)

func testRef(name string) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}
}

// TestRecorderCorrelation checks aggregation, deduplication and the spam
// filter on a fake clock: what each occurrence would write.
func TestRecorderCorrelation(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewRecorder(nil, "test-controller", clk)
	rs := testRef("web")

	// Nine different messages of one reason are written as they are; the
	// tenth and later ones fold into one combined event.
	var names []string
	for i := 1; i <= 12; i++ {
		ev := r.correlate(rs, corev1.EventTypeNormal, "SuccessfulCreate", fmt.Sprintf("Created pod: web-%d", i))
		if ev == nil {
			t.Fatalf("event %d dropped", i)
		}
		names = append(names, ev.Name)
		clk.Step(time.Millisecond)
		combined := strings.HasPrefix(ev.Message, "(combined from similar events): ")
		if want := i >= maxSimilarEvents; combined != want {
			t.Fatalf("event %d: message %q, combined %v, want %v", i, ev.Message, combined, want)
		}
		if i >= maxSimilarEvents {
			if ev.Name != names[maxSimilarEvents-1] || ev.Count != int32(i-maxSimilarEvents+1) {
				t.Fatalf("event %d: %s count %d, want %s count %d", i, ev.Name, ev.Count, names[maxSimilarEvents-1], i-maxSimilarEvents+1)
			}
			if !strings.HasSuffix(ev.Message, fmt.Sprintf("web-%d", i)) {
				t.Fatalf("event %d: combined message %q is not the latest", i, ev.Message)
			}
		}
	}
	// Another reason, or another object, is counted on its own.
	if ev := r.correlate(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: web-1"); ev == nil || ev.Count != 1 || strings.HasPrefix(ev.Message, "(combined") {
		t.Fatalf("another reason: %+v", ev)
	}

	// An identical event bumps the count of the first.
	other := testRef("api")
	first := r.correlate(other, corev1.EventTypeWarning, "FailedCreate", "quota")
	again := r.correlate(other, corev1.EventTypeWarning, "FailedCreate", "quota")
	if first == nil || again == nil || again.Name != first.Name || again.Count != 2 || first.Count != 1 {
		t.Fatalf("dedup: first %+v, again %+v", first, again)
	}
	// After the window a repeat is a new event.
	clk.Step(eventWindow + time.Second)
	if late := r.correlate(other, corev1.EventTypeWarning, "FailedCreate", "quota"); late == nil || late.Name == first.Name || late.Count != 1 {
		t.Fatalf("after the window: %+v", late)
	}
}

func TestRecorderSpamFilter(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewRecorder(nil, "test-controller", clk)
	obj, other := testRef("noisy"), testRef("quiet")
	written := 0
	for i := 0; i < 100; i++ {
		if r.correlate(obj, corev1.EventTypeWarning, "BackOff", "again") != nil {
			written++
		}
	}
	if written != spamBurst {
		t.Fatalf("%d of 100 events written at once, want the burst of %d", written, spamBurst)
	}
	if r.correlate(other, corev1.EventTypeWarning, "BackOff", "again") == nil {
		t.Fatal("another object's event was dropped")
	}
	clk.Step(spamRefill)
	ev := r.correlate(obj, corev1.EventTypeWarning, "BackOff", "again")
	if ev == nil {
		t.Fatal("no event written after a refill interval")
	}
	if ev.Count != 101 {
		t.Fatalf("count %d after 101 occurrences, want 101 (dropped ones still count)", ev.Count)
	}
	if r.correlate(obj, corev1.EventTypeWarning, "BackOff", "again") != nil {
		t.Fatal("a second event written within the refill interval")
	}
}
