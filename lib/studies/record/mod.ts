/**
 * The recording study (`deno task record`, the seed project's `record_videos.py --bulk`): whole
 * games played by random play or a trained DQN or PPO agent, with a share of random actions,
 * recorded as a project dataset of full RGB screens (the world model's data) and a GIF and MP4
 * per game; resumable game by game.
 *
 * Files: `presets.ts` (the config), `player.ts` (who plays), `games.ts` (games played in
 * parallel, handed out in order), `record.ts` (the run: dataset and videos, resumable),
 * `videos.ts` (GIFs and MP4s).
 *
 * @module
 */

export { checkRecordConfig, RECORD_PRESETS, type RecordConfig } from "./presets.ts";
export {
  type CheckpointInfo,
  openPlayer,
  type Player,
  type PlayerKind,
  readCheckpointInfo,
} from "./player.ts";
export {
  recordGames,
  type RecordOptions,
  type RecordSpec,
  recordSpec,
  type RecordSummary,
} from "./record.ts";
export { FFMPEG_MISSING, ffmpegInstalled, gameGif, videoName } from "./videos.ts";
