/**
 * A Drain-style log template miner (He, Zhu, Zheng, Lyu: "Drain: An Online Log Parsing
 * Approach with Fixed Depth Tree", ICWS 2017, https://jiemingzhu.github.io/pub/pjhe_icws2017.pdf).
 * Written here because no maintained npm package exists. Lines are masked first (numbers,
 * ids, IPs, emails… become placeholders), then routed through a fixed-depth tree keyed by
 * token count and the first tokens; in the leaf, the most similar template absorbs the line
 * when enough positions agree, and the positions that differ become `<*>`.
 */

const WILDCARD = '<*>';

/**
 * A log line is cut to this many characters before it is masked and tokenised: a template
 * is read by people and by the model, and the tail of a 1 MB line (a stack trace or a
 * payload dump) adds nothing to its pattern but work and memory.
 */
export const MAX_LOG_LINE_CHARS = 8192;

/**
 * Order matters: wider patterns first, so an email's digits are not masked as numbers.
 * The third element is a cheap substring every match contains: most lines skip most regexes.
 *
 * Linear time on any line: a mask whose first part is an unbounded run starts only where
 * such a run starts (a negative lookbehind of the run's own class), so the engine never
 * re-scans a run from each of its positions; every other mask is bounded in length
 * (a 100 KB `a-a-a-…` line used to take 10 s in the pod mask; test/analyze-drain.test.ts).
 */
const MASKS: readonly [RegExp, string, string?][] = [
  [/(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>]+/g, '<URL>', '://'],
  [/(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '<EMAIL>', '@'],
  [/\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g, '<UUID>', '-'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<TS>', '-'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '<IP>', '.'],
  [/(?<![0-9a-zA-Z_:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b/g, '<IP>', ':'],
  // Kubernetes pod names of a Deployment: <name>-<replicaset hash>-<5 random chars>. Starts
  // where a word starts, not after each of its dashes.
  [/(?<![-A-Za-z0-9_])[a-z][-a-z0-9]*-[0-9a-f]{5,10}-[0-9a-z]{5}\b/g, '<POD>', '-'],
  [/\b0x[0-9a-fA-F]+\b/g, '<HEX>', '0x'],
  // Hex ids (trace ids, hashes, pod suffixes): 8+ hex chars with at least one digit.
  [/\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b/g, '<HEX>'],
];

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isWordChar = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * A number not glued to a word before it: `45ms` -> `<NUM>ms`, `exec-12` -> `exec-<NUM>`,
 * `v7` stays; `1.5` is one number. What `/(?<![A-Za-z0-9_])\d+(?:\.\d+)?/g` replaces, in one
 * scan that copies the text between numbers once: the regex paid a match per digit run,
 * 40 µs per KB on `1-1-1-…` (bench:adversarial).
 */
export function maskNumbers(s: string): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < s.length; i++) {
    if (!isDigit(s.charCodeAt(i)) || (i > 0 && isWordChar(s.charCodeAt(i - 1)))) continue;
    const start = i;
    while (i < s.length && isDigit(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) === 46 /* . */ && isDigit(s.charCodeAt(i + 1))) {
      i++;
      while (i < s.length && isDigit(s.charCodeAt(i))) i++;
    }
    out += s.slice(copied, start) + '<NUM>';
    copied = i;
    i--;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Replaces variable parts of a line by placeholders before tokenising. */
export function maskLine(line: string): string {
  let out = line;
  for (const [re, placeholder, needle] of MASKS) if (!needle || out.includes(needle)) out = out.replace(re, placeholder);
  return maskNumbers(out);
}

export function tokenize(masked: string): string[] {
  return masked.split(/\s+/).filter((t) => t.length > 0);
}

export interface DrainOptions {
  /** Tree depth counting the length layer and the leaf, as in the paper: depth − 2 leading tokens route a line. 3 (one token) groups best on the labelled sample of bench/rca.ts; the paper uses 4. */
  depth?: number;
  /** Fraction of agreeing positions for a line to join a template (Drain's st, 0.4–0.5). */
  similarity?: number;
  /** Children per inner node before new tokens route to the wildcard child. */
  maxChildren?: number;
  /** Templates kept in all; later lines that fit none are counted in an overflow template. */
  maxClusters?: number;
}

export interface LogCluster {
  id: number;
  tokens: string[];
  count: number;
}

interface TreeNode {
  children: Map<string, TreeNode>;
  clusters: LogCluster[];
}

const newNode = (): TreeNode => ({ children: new Map(), clusters: [] });

/** A token that looks variable routes to the wildcard branch of the tree. */
function routeKey(token: string): string {
  return /\d/.test(token) || token.startsWith('<') ? WILDCARD : token;
}

export class DrainMiner {
  private readonly depth: number;
  private readonly similarity: number;
  private readonly maxChildren: number;
  private readonly maxClusters: number;
  private readonly root = new Map<number, TreeNode>();
  private readonly all: LogCluster[] = [];
  private overflow?: LogCluster;

  constructor(opts: DrainOptions = {}) {
    this.depth = Math.max(3, opts.depth ?? 3);
    this.similarity = opts.similarity ?? 0.5;
    this.maxChildren = opts.maxChildren ?? 100;
    this.maxClusters = opts.maxClusters ?? 1000;
  }

  /** Adds one line and returns the template it now belongs to. */
  add(line: string): LogCluster {
    const tokens = tokenize(maskLine(line.length > MAX_LOG_LINE_CHARS ? line.slice(0, MAX_LOG_LINE_CHARS) : line));
    const leaf = this.leaf(tokens);
    const best = this.closest(leaf.clusters, tokens);
    if (best) {
      for (let i = 0; i < tokens.length; i++) if (best.tokens[i] !== tokens[i]) best.tokens[i] = WILDCARD;
      best.count++;
      return best;
    }
    if (this.all.length >= this.maxClusters) {
      this.overflow ??= { id: this.all.length + 1, tokens: ['<other>'], count: 0 };
      this.overflow.count++;
      return this.overflow;
    }
    const cluster: LogCluster = { id: this.all.length + 1, tokens: [...tokens], count: 1 };
    leaf.clusters.push(cluster);
    this.all.push(cluster);
    return cluster;
  }

  clusters(): LogCluster[] {
    return this.overflow ? [...this.all, this.overflow] : [...this.all];
  }

  /** The leaf for these tokens, grown as needed. */
  private leaf(tokens: readonly string[]): TreeNode {
    const known = this.root.get(tokens.length);
    let node: TreeNode = known ?? newNode();
    if (!known) this.root.set(tokens.length, node);
    // depth counts the length layer and the leaf; the layers between key on leading tokens.
    const layers = Math.min(this.depth - 2, tokens.length);
    for (let i = 0; i < layers; i++) {
      const key = routeKey(tokens[i]!);
      let next: TreeNode | undefined = node.children.get(key);
      if (!next) {
        // A full layer routes the rest through one wildcard child, so the tree stays bounded.
        const useKey = node.children.size < this.maxChildren ? key : WILDCARD;
        next = node.children.get(useKey) ?? newNode();
        node.children.set(useKey, next);
      }
      node = next;
    }
    return node;
  }

  private closest(clusters: readonly LogCluster[], tokens: readonly string[]): LogCluster | undefined {
    let best: LogCluster | undefined;
    let bestSim = -1;
    let bestWild = -1;
    for (const c of clusters) {
      if (c.tokens.length !== tokens.length) continue;
      let same = 0;
      let wild = 0;
      for (let i = 0; i < tokens.length; i++) {
        if (c.tokens[i] === WILDCARD) wild++;
        else if (c.tokens[i] === tokens[i]) same++;
      }
      const sim = tokens.length === 0 ? 1 : same / tokens.length;
      if (sim > bestSim || (sim === bestSim && wild > bestWild)) {
        best = c;
        bestSim = sim;
        bestWild = wild;
      }
    }
    return best && bestSim >= this.similarity ? best : undefined;
  }
}

export function templateText(c: Pick<LogCluster, 'tokens'>): string {
  return c.tokens.join(' ');
}
