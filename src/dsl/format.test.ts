import { describe, expect, it } from "vitest";
import { format } from "./format.js";
import { parse } from "./parser.js";
import { corpusFiles, stripSpans } from "./test-helpers.js";

function fmt(source: string): string {
  const r = parse(source);
  expect(r.diagnostics).toEqual([]);
  return format(r.program);
}

describe("dsl formatter - corpus round trip", () => {
  for (const f of corpusFiles("valid")) {
    it(`${f.name}: parse → fmt → parse gives an equal tree, and fmt is idempotent`, () => {
      const once = fmt(f.source);
      const reparsed = parse(once);
      expect(reparsed.diagnostics).toEqual([]);
      expect(stripSpans(reparsed.program)).toEqual(stripSpans(parse(f.source).program));
      expect(fmt(once)).toBe(once);
      expect(reparsed.program.comments.map((c) => c.text.trim())).toEqual(parse(f.source).program.comments.map((c) => c.text.trim()));
    });
  }
});

describe("dsl formatter - layout", () => {
  it("lays out a messy file canonically", () => {
    const messy = `agent   a(x:int)->int{capabilities:["a","b"]
policy p{allow:message.send if x>1 deny:network_access}
with sandbox=docker,timeout=30s{let y=x*(2+3);if y>10{return y;}else if y>5{y+=1;}else{y-=1;}
match y{1=>"one",_=>{log("x");}}
try{error("e");}catch(Error e){log(e.message);}
for i in [1,2]{y+=i;}
y}}`;
    expect(fmt(messy)).toBe(`agent a(x: int) -> int {
    capabilities: ["a", "b"]

    policy p {
        allow: message.send if x > 1
        deny: network_access
    }

    with sandbox = docker, timeout = 30s {
        let y = x * (2 + 3);
        if y > 10 {
            return y;
        } else if y > 5 {
            y += 1;
        } else {
            y -= 1;
        }
        match y {
            1 => "one",
            _ => {
                log("x");
            }
        }
        try {
            error("e");
        } catch (Error e) {
            log(e.message);
        }
        for i in [1, 2] {
            y += i;
        }
        y
    }
}
`);
  });

  it("keeps comments before constructs and at the ends of lines", () => {
    const src = `# header
metadata {
  a = 1 // trailing on a
  # before b
  b = 2
}
// before the agent
agent x {
  with {
    // first statement
    let v = [1, // inside a list
      2];
    v // the value
    // at the end of the block
  }
}
// end of file
`;
    const out = fmt(src);
    expect(out).toBe(`# header
metadata {
    a = 1 // trailing on a
    # before b
    b = 2
}

// before the agent
agent x {
    with {
        // first statement
        let v = [1, 2]; // inside a list
        v // the value
        // at the end of the block
    }
}
// end of file
`);
    expect(fmt(out)).toBe(out);
  });

  it("adds parentheses only where precedence needs them", () => {
    const out = fmt("agent a {\n with {\n (a + b) * c - (d - e) + (f * g) + -(h + i) + (not j).k\n }\n}\n");
    expect(out).toContain("(a + b) * c - (d - e) + f * g + -(h + i) + (not j).k");
  });

  it("breaks long lists and records over lines with trailing commas", () => {
    const items = Array.from({ length: 20 }, (_, i) => `"item_number_${i}"`).join(", ");
    const out = fmt(`agent a {\n with {\n let xs = [${items}];\n xs\n }\n}\n`);
    expect(out).toContain('let xs = [\n            "item_number_0",\n');
    expect(fmt(out)).toBe(out);
  });

  it("re-escapes strings", () => {
    const out = fmt('metadata {\n s = "a\\"b\\\\c\\nd"\n}\n');
    expect(out).toContain('s = "a\\"b\\\\c\\nd"');
  });
});
