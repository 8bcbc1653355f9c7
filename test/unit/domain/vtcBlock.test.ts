import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  countVtcBlocks,
  fillInstructionUri,
  findVtcCoordinates,
  removeVtcBlocks,
  renderVtcBlock,
  upsertVtcBlock,
  type VtcCoordinates,
} from "../../../shared/domain/vtcBlock.js";
import { formatVtcId, generateVtcId, normalizeVtcId, VTC_ID_DIGITS } from "../../../shared/domain/vtcId.js";

const NUM_RUNS = 300;
const BEGIN = "<!-- opencvi:vtc-block:begin -->";
const END = "<!-- opencvi:vtc-block:end -->";
const HEADING = "Join with a video conferencing device";

/** The repository root (works from test/ and from dist/test/): golden files are not copied to dist/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "shared"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the test file");
    dir = parent;
  }
}

const goldenDir = join(repoRoot(), "test", "unit", "domain", "golden", "vtc-block");

const coords = (over: Partial<VtcCoordinates> = {}): VtcCoordinates => ({
  tenantKey: "813878896@t.cvi.example.net",
  vtcId: "1127180739",
  instructionUri: "https://cvi.example.net/join/1127180739",
  ...over,
});

const TEAMS_BODY = `<html>
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>
<body>
<div style="margin-bottom:6px"><a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0">Join the meeting now</a></div>
<div><span>Meeting ID: </span><span>252 171 467 498</span></div>
</body>
</html>
`;

/** Teams' own "video conferencing device" section, as a tenant with a CVI provider configured in Teams gets it. */
const TEAMS_VTC_SECTION = `<div style="margin-bottom:24px;overflow:hidden;white-space:nowrap">
<div style="margin-bottom:4px"><span class="me-email-text-secondary" style="font-size:14px;color:#616161">Join with a video conferencing device</span></div>
<span class="me-email-text" style="font-size:14px;color:#242424">813878896@t.plcm.vc</span><br>
<span class="me-email-text-secondary" style="font-size:14px;color:#616161">Video Conference ID: </span><span class="me-email-text" style="font-size:14px;color:#242424">112 718 073 9</span><br>
<a class="me-email-link" style="font-size:14px;text-decoration:underline;color:#5B5FC7" href="https://dialin.plcm.vc/teams/?key=813878896&amp;conf=1127180739">Alternate VTC instructions</a>
</div>`;

// ---------------------------------------------------------------- arbitraries

const digitString = (min: number, max: number) =>
  fc.array(fc.constantFrom(..."0123456789"), { minLength: min, maxLength: max }).map((d) => d.join(""));

/** Instruction links as providers configure them (fc.webUrl would cost a second to warm up). */
const urlArb = fc
  .tuple(
    fc.constantFrom("https://cvi.example.net/join/", "https://dialin.plcm.vc/teams/?key=813878896&conf=", "https://vtc.example.com/dial?a=1&b="),
    fc.string({ maxLength: 12 }),
  )
  .map(([prefix, rest]) => prefix + rest);

/** Any coordinates: the renderer must cope with any text (it escapes), not only valid keys. */
const coordinatesArb: fc.Arbitrary<VtcCoordinates> = fc.record({
  tenantKey: fc.oneof(
    fc.tuple(digitString(9, 9), fc.constantFrom("t.cvi.example.net", "t.plcm.vc", "T.PLCM.VC")).map(([d, h]) => `${d}@${h}`),
    fc.string({ maxLength: 40 }),
  ),
  vtcId: digitString(6, 16),
  instructionUri: fc.option(fc.oneof(urlArb, fc.string({ maxLength: 60 })), { nil: null }),
});

const fragments = [
  "<html>",
  "</html>",
  "<body>",
  "</body>",
  "</BODY >",
  "<div>",
  "</div>",
  "<br>",
  '<p style="margin:0">',
  "&nbsp;",
  "&amp;",
  "\n",
  "\r\n",
  "Meeting ID: 252 171 467 498",
  "<!-- a comment -->",
  // Our markers on their own, as a client might leave them, and fragments of them.
  BEGIN,
  END,
  "<!-- opencvi:vtc-block:beg",
  "in -->",
];

/** HTML-ish bodies: tags, entities, text, stray markers, and (when withBlocks) whole blocks of ours. */
const htmlishOf = (withBlocks: boolean): fc.Arbitrary<string> =>
  fc
    .array(
      withBlocks
        ? fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 12 }), coordinatesArb.map(renderVtcBlock))
        : fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 12 })),
      { maxLength: 25 },
    )
    .map((parts) => parts.join(""));

const htmlishArb = htmlishOf(true);

/** Bodies in which no block of ours occurs (stray markers may). */
const plainHtmlArb = htmlishOf(false).filter((html) => removeVtcBlocks(html) === html);

// ---------------------------------------------------------------- golden files

describe("upsertVtcBlock golden files (test/unit/domain/golden/vtc-block)", () => {
  const inputs = readdirSync(goldenDir)
    .filter((f) => f.endsWith(".input.html"))
    .sort();

  it("has the expected set of cases, each complete", () => {
    const names = inputs.map((f) => f.slice(0, -".input.html".length));
    for (const wanted of [
      "teams-invite",
      "no-body-close",
      "replace-old-id",
      "two-blocks",
      "no-instruction-uri",
      "escaped-instruction-uri",
      "upper-case-tenant-key",
    ]) {
      assert.ok(names.includes(wanted), `golden case ${wanted} is missing`);
    }
    for (const name of names) {
      assert.ok(existsSync(join(goldenDir, `${name}.expected.html`)), `${name}.expected.html is missing`);
      assert.ok(existsSync(join(goldenDir, `${name}.json`)), `${name}.json is missing`);
    }
  });

  for (const file of inputs) {
    const name = file.slice(0, -".input.html".length);
    it(`${name}: output matches ${name}.expected.html byte for byte, and is a fixed point`, () => {
      const input = readFileSync(join(goldenDir, file), "utf8");
      const expected = readFileSync(join(goldenDir, `${name}.expected.html`));
      const raw = JSON.parse(readFileSync(join(goldenDir, `${name}.json`), "utf8")) as VtcCoordinates;
      // The .json holds the provider's InstructionUri as configured ({ConfId} not yet filled in).
      const c: VtcCoordinates = { tenantKey: raw.tenantKey, vtcId: raw.vtcId, instructionUri: fillInstructionUri(raw.instructionUri, raw.vtcId) };

      const actual = upsertVtcBlock(input, c);
      assert.equal(actual, expected.toString("utf8"));
      assert.ok(Buffer.from(actual, "utf8").equals(expected), "bytes differ");

      assert.equal(upsertVtcBlock(actual, c), actual, "upsert is not idempotent on this case");
      assert.equal(countVtcBlocks(actual), 1);
      assert.deepEqual(findVtcCoordinates(actual), { tenantKey: raw.tenantKey.toLowerCase(), vtcId: raw.vtcId });
    });
  }
});

// ---------------------------------------------------------------- rendering and upsert

describe("renderVtcBlock", () => {
  it("is fenced by our markers and shows the heading, the key and the grouped ID", () => {
    const block = renderVtcBlock(coords());
    assert.ok(block.startsWith(BEGIN));
    assert.ok(block.endsWith(END));
    assert.ok(block.includes(HEADING));
    assert.ok(block.includes("813878896@t.cvi.example.net&nbsp;&nbsp;Video Conference ID: 112 718 073 9"));
    assert.ok(block.includes('<a href="https://cvi.example.net/join/1127180739">Alternate VTC instructions</a>'));
  });

  it("has no instructions link when instructionUri is null", () => {
    const block = renderVtcBlock(coords({ instructionUri: null }));
    assert.ok(!block.includes("<a "));
    assert.ok(!block.includes("Alternate VTC instructions"));
  });

  it("escapes the key and the link so that neither can break out of the block", () => {
    const block = renderVtcBlock(coords({ tenantKey: `a<b>"&@x`, instructionUri: `https://x/?a=1&b="2"<!-- opencvi:vtc-block:end --></body>` }));
    assert.ok(block.includes("a&lt;b&gt;&quot;&amp;@x&nbsp;"));
    assert.ok(block.includes('href="https://x/?a=1&amp;b=&quot;2&quot;&lt;!-- opencvi:vtc-block:end --&gt;&lt;/body&gt;"'));
    assert.equal(block.split(END).length, 2, "the link must not close the fence early");
    assert.ok(!/<\/body/i.test(block));
  });

  it("never contains a marker or </body> except its own fence, whatever the coordinates", () => {
    fc.assert(
      fc.property(coordinatesArb, (c) => {
        const block = renderVtcBlock(c);
        assert.equal(block.indexOf(BEGIN), 0);
        assert.equal(block.lastIndexOf(BEGIN), 0);
        assert.equal(block.indexOf(END), block.length - END.length);
        assert.ok(!/<\/body/i.test(block));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("upsertVtcBlock", () => {
  it("puts the block right before </body>", () => {
    const out = upsertVtcBlock(TEAMS_BODY, coords());
    assert.ok(out.includes(`${END}</body>`));
    assert.equal(out.replace(renderVtcBlock(coords()), ""), TEAMS_BODY);
  });

  it("uses the first </body> when there are several", () => {
    const out = upsertVtcBlock("<body>a</body>b</body>", coords());
    assert.equal(out, `<body>a${renderVtcBlock(coords())}</body>b</body>`);
  });

  it("appends the block when there is no </body>", () => {
    assert.equal(upsertVtcBlock("<div>hi</div>", coords()), `<div>hi</div>${renderVtcBlock(coords())}`);
    assert.equal(upsertVtcBlock("", coords()), renderVtcBlock(coords()));
  });

  it("replaces a block with old coordinates: one block, the new ID, the old one gone", () => {
    const old = upsertVtcBlock(TEAMS_BODY, coords({ vtcId: "1000000001", instructionUri: "https://cvi.example.net/join/1000000001" }));
    const out = upsertVtcBlock(old, coords());
    assert.equal(out, upsertVtcBlock(TEAMS_BODY, coords()));
    assert.equal(countVtcBlocks(out), 1);
    assert.ok(!out.includes("100 000 000 1"));
    assert.ok(!out.includes("1000000001"));
  });

  it("collapses several of our blocks into one", () => {
    const block = renderVtcBlock(coords({ vtcId: "2223334445" }));
    const body = `<body>${block}<div>agenda</div>${block}${block}</body>`;
    const out = upsertVtcBlock(body, coords());
    assert.equal(out, `<body><div>agenda</div>${renderVtcBlock(coords())}</body>`);
  });

  it("leaves Teams' own video-device section alone and adds ours", () => {
    const body = `<body>${TEAMS_VTC_SECTION}</body>`;
    const out = upsertVtcBlock(body, coords());
    assert.ok(out.includes(TEAMS_VTC_SECTION));
    assert.equal(removeVtcBlocks(out), body);
  });

  it("keeps a stray begin marker (a client dropped the end one) and stays idempotent", () => {
    const body = `<body>${BEGIN}<div>notes the organizer typed</div></body>`;
    const once = upsertVtcBlock(body, coords());
    assert.equal(once, `<body>${BEGIN}<div>notes the organizer typed</div>${renderVtcBlock(coords())}</body>`);
    assert.equal(upsertVtcBlock(once, coords()), once);
    assert.equal(removeVtcBlocks(once), body);
  });

  it("is idempotent: applying it twice equals applying it once (property)", () => {
    fc.assert(
      fc.property(htmlishArb, coordinatesArb, (html, c) => {
        const once = upsertVtcBlock(html, c);
        assert.equal(upsertVtcBlock(once, c), once);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("the latest coordinates win: upsert(upsert(x, a), b) == upsert(x, b) (property)", () => {
    fc.assert(
      fc.property(htmlishArb, coordinatesArb, coordinatesArb, (html, a, b) => {
        assert.equal(upsertVtcBlock(upsertVtcBlock(html, a), b), upsertVtcBlock(html, b));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("touches nothing outside its block: removeVtcBlocks(upsert(x)) == removeVtcBlocks(x) (property)", () => {
    fc.assert(
      fc.property(htmlishArb, coordinatesArb, (html, c) => {
        assert.equal(removeVtcBlocks(upsertVtcBlock(html, c)), removeVtcBlocks(html));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("removeVtcBlocks(upsert(x)) gives back x when x had no block (property)", () => {
    fc.assert(
      fc.property(plainHtmlArb, coordinatesArb, (html, c) => {
        assert.equal(removeVtcBlocks(upsertVtcBlock(html, c)), html);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("leaves exactly one block (property)", () => {
    fc.assert(
      fc.property(plainHtmlArb, coordinatesArb, (html, c) => {
        assert.equal(countVtcBlocks(html), 0);
        assert.equal(countVtcBlocks(upsertVtcBlock(html, c)), 1);
      }),
      { numRuns: NUM_RUNS },
    );
    fc.assert(
      fc.property(htmlishArb, coordinatesArb, (html, c) => {
        // Any heading left outside our fences (text, Teams' own section) still counts; ours adds exactly one.
        assert.equal(countVtcBlocks(upsertVtcBlock(html, c)), countVtcBlocks(removeVtcBlocks(html)) + 1);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("writes coordinates that findVtcCoordinates reads back (property)", () => {
    const realistic = fc.record({
      tenantKey: fc.tuple(digitString(9, 9), fc.constantFrom("t.cvi.example.net", "t.plcm.vc", "T.Example.COM")).map(([d, h]) => `${d}@${h}`),
      vtcId: digitString(6, 16),
      instructionUri: fc.option(urlArb, { nil: null }),
    });
    fc.assert(
      fc.property(realistic, (c) => {
        assert.deepEqual(findVtcCoordinates(upsertVtcBlock(TEAMS_BODY, c)), { tenantKey: c.tenantKey.toLowerCase(), vtcId: c.vtcId });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("removeVtcBlocks", () => {
  it("removes our block and leaves the rest as it was", () => {
    assert.equal(removeVtcBlocks(`<body>a${renderVtcBlock(coords())}b</body>`), "<body>ab</body>");
  });

  it("removes every block of ours", () => {
    const b = renderVtcBlock(coords());
    assert.equal(removeVtcBlocks(`x${b}y${b}z${b}`), "xyz");
  });

  it("removes a block that Outlook re-serialized (line breaks inside the fence)", () => {
    assert.equal(removeVtcBlocks(`<p>a</p>\n${BEGIN}\n<div>\n${HEADING}\n</div>\n${END}\n<p>b</p>`), "<p>a</p>\n\n<p>b</p>");
  });

  it("removes nested fences whole, and a fence that removing an inner block completes", () => {
    assert.equal(removeVtcBlocks(`<p>${BEGIN}a${BEGIN}b${END}c${END}</p>`), "<p></p>");
    const block = renderVtcBlock(coords());
    assert.equal(removeVtcBlocks(`<p><!-- opencvi:vtc-block:beg${block}in -->x${END}</p>`), "<p></p>");
  });

  it("returns a body without our markers unchanged", () => {
    assert.equal(removeVtcBlocks(TEAMS_BODY), TEAMS_BODY);
    assert.equal(removeVtcBlocks(`<body>${TEAMS_VTC_SECTION}</body>`), `<body>${TEAMS_VTC_SECTION}</body>`);
    assert.equal(removeVtcBlocks(`a${END}b${BEGIN}c`), `a${END}b${BEGIN}c`);
  });

  it("leaves no block of ours behind (property)", () => {
    fc.assert(
      fc.property(htmlishArb, (html) => {
        const stripped = removeVtcBlocks(html);
        assert.equal(removeVtcBlocks(stripped), stripped);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("countVtcBlocks", () => {
  it("is 0 for a plain invite and 1 after upsert", () => {
    assert.equal(countVtcBlocks(TEAMS_BODY), 0);
    assert.equal(countVtcBlocks(upsertVtcBlock(TEAMS_BODY, coords())), 1);
    assert.equal(countVtcBlocks(upsertVtcBlock(upsertVtcBlock(TEAMS_BODY, coords()), coords({ vtcId: "2000000002" }))), 1);
  });

  it("counts every video-device section, ours and others'", () => {
    const b = renderVtcBlock(coords());
    assert.equal(countVtcBlocks(`${b}${b}`), 2);
    assert.equal(countVtcBlocks(`<body>${TEAMS_VTC_SECTION}${b}</body>`), 2);
  });
});

// ---------------------------------------------------------------- reading coordinates

describe("findVtcCoordinates", () => {
  it("reads our own block", () => {
    assert.deepEqual(findVtcCoordinates(upsertVtcBlock(TEAMS_BODY, coords())), { tenantKey: "813878896@t.cvi.example.net", vtcId: "1127180739" });
  });

  it("reads Teams' text format", () => {
    assert.deepEqual(findVtcCoordinates("813878896@t.plcm.vc  Video Conference ID: 112 718 073 9"), {
      tenantKey: "813878896@t.plcm.vc",
      vtcId: "1127180739",
    });
  });

  it("reads Teams' plain-text invite (lines, CRLF)", () => {
    const text = [
      "Microsoft Teams meeting",
      "Join with a video conferencing device",
      "813878896@t.plcm.vc",
      "Video Conference ID: 112 718 073 9",
      "Alternate VTC instructions<https://dialin.plcm.vc/teams/?key=813878896&conf=1127180739>",
    ].join("\r\n");
    assert.deepEqual(findVtcCoordinates(text), { tenantKey: "813878896@t.plcm.vc", vtcId: "1127180739" });
  });

  it("reads the older 'VTC Conference ID' format and keeps a leading zero", () => {
    assert.deepEqual(findVtcCoordinates("813878896@t.plcm.vc VTC Conference ID: 017920684"), {
      tenantKey: "813878896@t.plcm.vc",
      vtcId: "017920684",
    });
    assert.deepEqual(findVtcCoordinates("813878896@t.plcm.vc\nVTC Conference ID:017920684\n"), {
      tenantKey: "813878896@t.plcm.vc",
      vtcId: "017920684",
    });
  });

  it("reads Teams' HTML section (spans, <br>, &amp; in a link)", () => {
    assert.deepEqual(findVtcCoordinates(`<html><body>${TEAMS_VTC_SECTION}</body></html>`), { tenantKey: "813878896@t.plcm.vc", vtcId: "1127180739" });
  });

  it("reads HTML-wrapped variants: &nbsp; separators, tags around each part, bold ID", () => {
    const variants = [
      "<p>813878896@t.plcm.vc&nbsp;&nbsp;Video Conference ID:&nbsp;112&nbsp;718&nbsp;073&nbsp;9</p>",
      "<div><span>813878896@t.plcm.vc</span></div><div><span>Video Conference ID: </span><b>112 718 073 9</b></div>",
      "<td>813878896@t.plcm.vc</td><td>VTC Conference ID:</td><td>1127180739</td>",
    ];
    for (const html of variants) assert.deepEqual(findVtcCoordinates(html), { tenantKey: "813878896@t.plcm.vc", vtcId: "1127180739" }, html);
  });

  it("lower-cases the tenant key and ignores the label's case", () => {
    assert.deepEqual(findVtcCoordinates("813878896@T.PLCM.VC video conference id: 112 718 073 9"), {
      tenantKey: "813878896@t.plcm.vc",
      vtcId: "1127180739",
    });
  });

  it("returns the first coordinates when there are several", () => {
    const text = `813878896@t.plcm.vc Video Conference ID: 112 718 073 9<br>999999999@t.other.example VTC Conference ID: 2223334445`;
    assert.deepEqual(findVtcCoordinates(text), { tenantKey: "813878896@t.plcm.vc", vtcId: "1127180739" });
  });

  it("does not run the ID into digits that follow it in the markup (text typed after the block)", () => {
    const body = `<body>${renderVtcBlock(coords({ instructionUri: null }))}<div>9:30 coffee, 10 agenda</div></body>`;
    assert.deepEqual(findVtcCoordinates(body), { tenantKey: "813878896@t.cvi.example.net", vtcId: "1127180739" });
    assert.deepEqual(
      findVtcCoordinates("<span>813878896@t.plcm.vc</span><br><span>Video Conference ID: 112 718 073 9</span><br><span>2 rooms</span>"),
      {
        tenantKey: "813878896@t.plcm.vc",
        vtcId: "1127180739",
      },
    );
  });

  it("returns undefined for text without coordinates", () => {
    for (const text of [
      "",
      TEAMS_BODY,
      "Meeting ID: 252 171 467 498 Passcode: ZgUz5z",
      "Video Conference ID: 112 718 073 9", // no key
      "813878896@t.plcm.vc", // no ID
      "813878896@t.plcm.vc Video Conference ID: 12345", // too short
      "813878896@t.plcm.vc Video Conference ID: abc def", // not digits
      "813878896@t.plcm.vc Conference ID: 112 718 073 9", // neither "Video" nor "VTC"
      "813878896@t.plcm.vc Video Conference ID: 112 718 073 912 345 67", // 17 digits
    ]) {
      assert.equal(findVtcCoordinates(text), undefined, text);
    }
  });

  it("never throws and only returns well-formed coordinates (property)", () => {
    fc.assert(
      fc.property(fc.oneof(htmlishArb, fc.string()), (text) => {
        const found = findVtcCoordinates(text);
        if (found === undefined) return;
        assert.match(found.vtcId, /^[0-9]{6,16}$/);
        assert.match(found.tenantKey, /^[a-z0-9._+-]+@[a-z0-9.-]+$/);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// ---------------------------------------------------------------- instruction URI

describe("fillInstructionUri", () => {
  it("is null for null", () => {
    assert.equal(fillInstructionUri(null, "1127180739"), null);
  });

  it("leaves a URI without {ConfId} as it is", () => {
    assert.equal(fillInstructionUri("https://cvi.example.net/help", "1127180739"), "https://cvi.example.net/help");
  });

  it("fills in every {ConfId}", () => {
    assert.equal(fillInstructionUri("https://x.example/{ConfId}", "1127180739"), "https://x.example/1127180739");
    assert.equal(
      fillInstructionUri("https://x.example/dial?conf={ConfId}&uri={ConfId}@x.example", "017920684"),
      "https://x.example/dial?conf=017920684&uri=017920684@x.example",
    );
  });

  it("does not HTML-escape (that is the renderer's job)", () => {
    assert.equal(fillInstructionUri('https://x.example/?a={ConfId}&b="<c>"', "123456"), 'https://x.example/?a=123456&b="<c>"');
  });

  it("leaves no {ConfId} behind (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant("{ConfId}"), fc.string({ maxLength: 8 })), { maxLength: 8 }), digitString(6, 16), (parts, id) => {
        const uri = parts.join("");
        const filled = fillInstructionUri(uri, id);
        assert.equal(filled, uri.split("{ConfId}").join(id));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// ---------------------------------------------------------------- VTC IDs

describe("generateVtcId", () => {
  it("has ten digits", () => {
    assert.equal(VTC_ID_DIGITS, 10);
  });

  it("gives 1000000000 at the low extreme and asks for 9e9 values", () => {
    const asked: number[] = [];
    const id = generateVtcId((max) => {
      asked.push(max);
      return 0;
    });
    assert.equal(id, "1000000000");
    assert.deepEqual(asked, [9_000_000_000]);
  });

  it("gives 9999999999 at the high extreme", () => {
    assert.equal(
      generateVtcId((max) => max - 1),
      "9999999999",
    );
  });

  it("is always 10 digits without a leading zero (property over the RandomInt's range)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9_000_000_000 - 1 }), (n) => {
        const id = generateVtcId(() => n);
        assert.match(id, /^[1-9][0-9]{9}$/);
        assert.equal(Number(id), 1_000_000_000 + n);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("works with crypto.randomInt", () => {
    for (let i = 0; i < 50; i++) assert.match(generateVtcId(randomInt), /^[1-9][0-9]{9}$/);
  });
});

describe("normalizeVtcId", () => {
  it("accepts what people type and invites show", () => {
    for (const typed of [
      "1127180739",
      "112 718 073 9",
      "112-718-0739",
      "112.718.073.9",
      "112_718_073_9",
      "  112 718 073 9\t",
      "112\u00a0718\u00a0073\u00a09",
    ]) {
      assert.equal(normalizeVtcId(typed), "1127180739", JSON.stringify(typed));
    }
  });

  it("keeps leading zeros", () => {
    assert.equal(normalizeVtcId("017 920 684"), "017920684");
    assert.equal(normalizeVtcId("000000"), "000000");
  });

  it("accepts 6 to 16 digits", () => {
    assert.equal(normalizeVtcId("123456"), "123456");
    assert.equal(normalizeVtcId("1234567890123456"), "1234567890123456");
  });

  it("rejects too few or too many digits, and anything but digits and separators", () => {
    for (const bad of [
      "",
      "   ",
      "12345",
      "12345678901234567",
      "112 718 O73 9",
      "+1127180739",
      "1127180739#",
      "１１２７１８０７３９",
      "11271807 39x",
    ]) {
      assert.equal(normalizeVtcId(bad), undefined, JSON.stringify(bad));
    }
  });

  it("undoes formatVtcId (property)", () => {
    fc.assert(
      fc.property(digitString(6, 16), (id) => {
        assert.equal(normalizeVtcId(formatVtcId(id)), id);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("formatVtcId", () => {
  it("groups by three as invites print it", () => {
    assert.equal(formatVtcId("1127180739"), "112 718 073 9");
    assert.equal(formatVtcId("017920684"), "017 920 684");
    assert.equal(formatVtcId("123456"), "123 456");
    assert.equal(formatVtcId("1234567"), "123 456 7");
  });

  it("only inserts single spaces between groups of three (property)", () => {
    fc.assert(
      fc.property(digitString(1, 20), (id) => {
        const formatted = formatVtcId(id);
        assert.equal(formatted.replaceAll(" ", ""), id);
        const groups = formatted.split(" ");
        for (const g of groups.slice(0, -1)) assert.equal(g.length, 3);
        assert.ok(groups.at(-1)!.length >= 1 && groups.at(-1)!.length <= 3);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
