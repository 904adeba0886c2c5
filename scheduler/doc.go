// Package scheduler holds the flow-matching samplers of WAN 2.2: the sigma
// schedules with their shift, the FlowUniPC (bh2, order 2, predictor +
// corrector), Flow DPM++ 2M (midpoint) and flow Euler solvers, the sampler of
// step-distilled models and LoRAs, the choice of expert by timestep, and
// classifier-free guidance (spec §4).
//
// # Schedules
//
// A schedule of N steps has N integer timesteps, which the model is fed, and
// N+1 float32 sigmas, which the solver uses; the last sigma is 0. The sigmas
// are the shifted values shift·σ/(1 + (shift−1)·σ) of a numpy-style linspace,
// computed in float64 and rounded to float32 once, as the official code does:
//
//   - UniPC starts at σ_max = float32(0.999) (see [UniPCSchedule]);
//   - DPM++ and Euler start at exactly 1.0 (see [DPMSchedule]).
//
// Timesteps are the float64 sigmas times 1000, truncated toward zero.
//
// # Driving a solver
//
// The pipeline builds a [Solver] with [New], then for i = 0..N−1 runs the
// model at Timesteps()[i] on the latent x and calls Step(v, i, x), which
// updates x in place. After the last step x is the final latent. Steps must
// come in order; calling step 0 again starts a new generation.
//
// Every step is a fixed linear combination of a handful of latent-sized
// buffers whose scalar weights depend only on the schedule; [Coefficients]
// lists them, and the []float32 path applies exactly those weights, so a GPU
// backend can drive the same solver by running one elementwise kernel with
// the weights of Coefficients(i).
//
// The few-step workflows of step-distilled models and LoRAs (the [Distill]
// kind, which [New] does not build) run [Distilled] instead, made by
// [NewDistilled] from a list of timesteps of the shifted 1000-step training
// schedule ([DefaultDistillTimesteps]: 1000, 750, 500, 250). Its Timesteps
// are float (937.5 for 750 at shift 5), it keeps no history between steps,
// and it has no Coefficients.
//
// # Arithmetic
//
// The scalar coefficients follow the official float32 0-d tensor arithmetic:
// α = 1 − σ and λ = ln α − ln σ are float32, and so are h, expm1(−h) and the
// rest. Where the official code applies several scalars to several tensors in
// turn, the weights here are those scalars combined in float64 and rounded to
// float32 once. The elementwise combination is evaluated in float32, each
// product rounded before it is added, left to right.
package scheduler
