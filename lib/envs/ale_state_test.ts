import assert from "node:assert/strict";
import { RAM_DECODERS, ramDecoder } from "./ale_state.ts";
import { Breakout } from "./breakout.ts";
import { Pong } from "./pong.ts";

// Decoding rules on hand-made RAM; `ale_test.ts` checks them against real ALE frames.

function breakoutRam(): Uint8Array {
  const ram = new Uint8Array(128);
  // A full wall as ALE's Breakout starts with it: 2 bits per brick plus 4 wall bits per row.
  ram.fill(0x3f, 0, 6);
  ram.fill(0xff, 6, 30);
  ram.fill(0xc0, 30, 36);
  ram[72] = 47 + 99; // paddle x 99
  ram[108] = 8; // paddle 16 px wide
  return ram;
}

Deno.test("Breakout RAM decodes to the native state keys, in pixels and px/frame", () => {
  const decoder = RAM_DECODERS.breakout;
  assert.deepEqual(decoder.stateKeys, new Breakout().stateKeys);
  const ram = breakoutRam();
  assert.deepEqual(decoder.decode(ram, 5), {
    ballX: 0,
    ballY: 0,
    ballDx: 0,
    ballDy: 0,
    ballVisible: 0,
    paddleX: 99,
    paddleWidth: 16,
    bricksRemaining: 108,
    lives: 5,
    score: 0,
  });
  ram[99] = 49 + 78;
  ram[101] = 122 - 9;
  // dx = -1.5 is stored negated: +1.5 = 0x01.0x80; dy = -2 = 0xfe.0x00.
  ram[105] = 0x01;
  ram[106] = 0x80;
  ram[103] = 0xfe;
  ram[104] = 0x00;
  ram[6] &= ~0b11; // one brick gone
  ram[77] = 0x47; // BCD 47
  ram[76] = 0x03; // + 300
  ram[108] = 6;
  const s = decoder.decode(ram, 3);
  assert.equal(s.ballX, 78);
  assert.equal(s.ballY, 122);
  assert.equal(s.ballDx, -1.5);
  assert.equal(s.ballDy, -2);
  assert.equal(s.ballVisible, 1);
  assert.equal(s.bricksRemaining, 107);
  assert.equal(s.score, 347);
  assert.equal(s.paddleWidth, 12);
  assert.equal(s.lives, 3);
  // Below the paddle the ball is still in play (the native game loses it a frame after its top
  // passes row 217); the ROM then zeroes its y.
  ram[101] = 219 - 9;
  assert.equal(decoder.decode(ram, 3).ballY, 219);
  ram[101] = 0;
  assert.equal(decoder.decode(ram, 3).ballVisible, 0);
});

Deno.test("Pong RAM decodes to the native state keys", () => {
  const decoder = RAM_DECODERS.pong;
  assert.deepEqual(decoder.stateKeys, new Pong().stateKeys);
  const ram = new Uint8Array(128);
  ram[51] = 109; // the ROM's paddle coordinate, top row + 13
  ram[50] = 15 + 5;
  ram[14] = 3;
  ram[13] = 20;
  assert.deepEqual(decoder.decode(ram, 0), {
    ballX: 0,
    ballY: 0,
    ballDx: 0,
    ballDy: 0,
    ballVisible: 0,
    playerY: 96,
    enemyY: 5,
    playerScore: 3,
    enemyScore: 20,
  });
  ram[49] = 49 + 80;
  ram[54] = 14 + 115;
  ram[58] = 0xfe; // dx stored negated: -(-2) = 2
  ram[56] = 0xff; // dy -1
  const s = decoder.decode(ram, 0);
  assert.deepEqual([s.ballX, s.ballY, s.ballDx, s.ballDy, s.ballVisible], [80, 115, 2, -1, 1]);
});

Deno.test("games without annotations decode to an empty state", () => {
  const decoder = ramDecoder("space_invaders");
  assert.deepEqual(decoder.stateKeys, []);
  assert.deepEqual(decoder.decode(new Uint8Array(128), 3), {});
});
