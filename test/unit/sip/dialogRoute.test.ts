import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { asRequestUri, inDialogDestination } from "../../../media-host/sip/dialogRoute.js";
import { parseUri } from "../../../media-host/sip/uri.js";

const target = parseUri("sip:room@192.0.2.10:5062;transport=tcp");

describe("requests inside a dialog: Request-URI and Route (RFC 3261 §12.2.1.1)", () => {
  it("an empty route set: the remote target, no Route", () => {
    assert.deepEqual(inDialogDestination([], target), { uri: "sip:room@192.0.2.10:5062;transport=tcp", routes: [] });
  });

  it("a loose router first: the remote target as Request-URI, the whole route set as Route, parameters kept", () => {
    const routeSet = [parseUri("sip:10.0.0.5;transport=tcp;r2=on;lr;ftag=abc"), parseUri("sip:203.0.113.5;r2=on;lr;ftag=abc")];
    assert.deepEqual(inDialogDestination(routeSet, target), {
      uri: "sip:room@192.0.2.10:5062;transport=tcp",
      routes: ["<sip:10.0.0.5;transport=tcp;r2=on;lr;ftag=abc>", "<sip:203.0.113.5;r2=on;lr;ftag=abc>"],
    });
  });

  it("a strict router first: its URI as Request-URI, the rest of the route set then the remote target as Route", () => {
    const routeSet = [parseUri("sip:strict.example.net;maddr=192.0.2.2"), parseUri("sip:loose.example.net;lr")];
    assert.deepEqual(inDialogDestination(routeSet, target), {
      uri: "sip:strict.example.net;maddr=192.0.2.2",
      routes: ["<sip:loose.example.net;lr>", "<sip:room@192.0.2.10:5062;transport=tcp>"],
    });
  });

  it("a strict router's URI loses what a Request-URI may not carry (§19.1.1): the method parameter and URI headers", () => {
    assert.equal(
      asRequestUri(parseUri("sip:proxy.example.net:5070;METHOD=INVITE;transport=udp?X-Hint=1")),
      "sip:proxy.example.net:5070;transport=udp",
    );
    assert.equal(asRequestUri(parseUri("sip:proxy.example.net;%6Dethod=BYE")), "sip:proxy.example.net");
    // ";" and "?" belong to the user part here: left alone.
    assert.equal(asRequestUri(parseUri("sip:a;method=x?y@[2001:db8::1]:5060;method=INVITE;lr")), "sip:a;method=x?y@[2001:db8::1]:5060;lr");
    assert.equal(
      asRequestUri(parseUri("sip:proxy.example.net;maddr=192.0.2.2;transport=tcp")),
      "sip:proxy.example.net;maddr=192.0.2.2;transport=tcp",
    );
  });
});
