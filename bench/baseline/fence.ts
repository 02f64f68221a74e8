/** The model-answer fence strip before issue 11 (main at 71ebae2, src/narrate/guard.ts), frozen for bench:adversarial. */
export function stripFence(text: string): string {
  return text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1');
}
