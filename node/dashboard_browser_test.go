package node_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

var screenshot = flag.String("dashboard-screenshot", "", "TestDashboardInBrowser writes a PNG of the dashboard to this file (docs/dashboard.png)")

// chromium finds Debian's chromium (or another Chrome) for the browser test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install chromium): skipping the dashboard browser test")
	return ""
}

// TestDashboardInBrowser opens node 0's dashboard in headless Chromium on a
// real 4-node network with an API token: the peers table lists the other
// nodes, the key inspector shows a key's holders after a put, the request
// chart moves, a killed node leaves the peers table, and the page asks
// nothing of any other origin.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-node network and a browser")
	}
	bin := chromium(t)
	c := testnet.New(t, 4, withToken)
	base := c.Node(0).APIURL()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS polls a JavaScript condition in the page (bounded).
	waitJS := func(what, cond string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
	}
	suffixes := func(idx ...int) string {
		var s []string
		for _, i := range idx {
			id := c.Node(i).PeerID().String()
			s = append(s, id[len(id)-10:])
		}
		b, _ := json.Marshal(s)
		return string(b)
	}

	run("open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	waitJS("asked for the token", `document.getElementById("state").textContent.includes("unauthorized")`, 20*time.Second)
	run("enter the token", chromedp.SendKeys(chromedp.ID("token"), metricsToken), chromedp.Click(chromedp.CSS("#token-form button")))

	// The first screen, with no click: this node and the other three in the peers table.
	self := c.Node(0).PeerID().String()
	waitJS("this node's peer ID", fmt.Sprintf(`document.getElementById("peer-id").textContent === %q`, self), 20*time.Second)
	waitJS("the other nodes in the peers table", fmt.Sprintf(
		`%s.every(s => document.getElementById("peer-rows").textContent.includes(s)) && document.querySelectorAll("#peer-rows tr").length === 3`,
		suffixes(1, 2, 3)), 30*time.Second)
	waitJS("routing-table buckets drawn", `document.querySelectorAll("#buckets rect").length > 0`, 10*time.Second)

	// A put through node 1; the inspector on node 0 shows its holders.
	putCtx, putCancel := context.WithTimeout(ctx, 30*time.Second)
	defer putCancel()
	cl := c.Client(1)
	defer cl.CloseIdleConnections()
	const key = "dashboard/greeting"
	if _, err := cl.Put(putCtx, key, []byte("hello"), node.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	run("inspect the key", chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Click(chromedp.CSS("#key-form button")))
	waitJS("the key's holders in the inspector", fmt.Sprintf(
		`%s.every(s => document.getElementById("key-rows").textContent.includes(s)) && `+
			`[...document.querySelectorAll("#key-rows tr")].every(tr => tr.children[1].textContent === "1" && tr.children[2].textContent === "yes") && `+
			`document.getElementById("key-summary").textContent.includes("fully replicated")`,
		suffixes(0, 1, 2, 3)), 30*time.Second)

	// Requests through node 0 show in its request chart.
	c0 := c.Client(0)
	defer c0.CloseIdleConnections()
	for i := range 20 {
		if _, _, err := c0.Get(putCtx, key, 0); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	waitJS("the request chart", `[...document.querySelectorAll("#rate rect")].some(r => parseFloat(r.getAttribute("height")) > 0)`, 20*time.Second)

	if *screenshot != "" {
		paceRequests(t, putCtx, c0, key)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", *screenshot, len(png))
	}

	// A killed node leaves the peers table once the prober evicts it.
	gone := suffixes(3) // before Kill: the cluster forgets a killed node
	c.Kill(3)
	waitJS("the killed node gone from the peers table", fmt.Sprintf(
		`!document.getElementById("peer-rows").textContent.includes(%s[0]) && document.querySelectorAll("#peer-rows tr").length === 2`,
		gone), 60*time.Second)

	mu.Lock()
	defer mu.Unlock()
	for _, u := range requested {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("the dashboard requested %s, outside its node %s", u, base)
		}
		if strings.Contains(u, metricsToken) {
			t.Errorf("the token appeared in a URL: %s", u)
		}
	}
	if len(requested) < 5 {
		t.Errorf("saw only %d requests from the page: %v", len(requested), requested)
	}
}

// paceRequests spreads gets over a few seconds, so that the screenshot's
// request chart has some history: until six activity slots of node c have
// requests (at most 20 s, 10 gets a second).
func paceRequests(t *testing.T, ctx context.Context, c *node.Client, key string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, _, err := c.Get(ctx, key, 0); err != nil {
			t.Fatalf("get: %v", err)
		}
		if i%10 == 0 && activeSlots(t, c.BaseURL()) >= 6 {
			return
		}
		<-tick.C
	}
}

// activeSlots counts the slots of GET /v1/activity with requests.
func activeSlots(t *testing.T, base string) int {
	t.Helper()
	_, body := do(t, base, call{name: "GET /v1/activity", method: http.MethodGet, path: "/v1/activity", header: bearer(metricsToken)})
	var a node.ActivityResponse
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range a.Points {
		if p.Requests > 0 {
			n++
		}
	}
	return n
}
