import Foundation

/// A multinomial logistic-regression intent classifier over sparse n-gram features, trained at
/// start-up from a tenant's example utterances.
///
/// Why logistic regression: it gives probabilities (so a confidence threshold means something
/// and out-of-scope detection is a threshold plus an explicit `out_of_scope` class), it trains in
/// milliseconds on a few hundred examples, it needs no pre-trained model files (nothing can be
/// downloaded at run time), and inference is one sparse dot product per class. Training is SGD
/// in a fixed, seeded order, so the same examples always give the same model. Confidence is
/// calibrated by temperature scaling fitted on out-of-fold predictions (k-fold cross-validation).
public struct IntentClassifier: Sendable {
    /// Training hyper-parameters. The defaults were chosen on the demo knowledge base's
    /// training examples by cross-validation, not on the held-out test file.
    public struct Options: Sendable, Hashable {
        public var epochs = 30
        public var learningRate: Float = 0.5
        public var l2: Float = 1e-4
        public var calibrationFolds = 4
        public var seed: UInt64 = 0x4B61_6D69
        public init() {}
    }

    /// One prediction: labels with calibrated probabilities, best first.
    public struct Prediction: Sendable {
        public var ranked: [(label: String, probability: Double)]
        public var best: (label: String, probability: Double) { ranked[0] }
    }

    public let labels: [String]
    let vocabulary: Vocabulary
    /// Row-major by feature: `weights[feature * labels.count + label]`.
    let weights: [Float]
    let bias: [Float]
    /// Softmax temperature from cross-validation (1 = uncalibrated).
    public let temperature: Double
    /// The confidence threshold below which a prediction counts as out of scope that maximised
    /// out-of-fold accuracy (nil without an out-of-scope class or enough examples).
    public let suggestedThreshold: Double?

    /// Trains on `(features, label)` pairs. Labels are ordered by first appearance.
    static func train(examples: [(features: [UInt64], label: String)], outOfScopeLabel: String? = nil,
                      options: Options = Options()) -> IntentClassifier {
        var labels: [String] = []
        var labelIndex: [String: Int] = [:]
        for example in examples where labelIndex[example.label] == nil {
            labelIndex[example.label] = labels.count
            labels.append(example.label)
        }
        let targets = examples.map { labelIndex[$0.label]! }
        let features = examples.map(\.features)

        let model = fit(features: features, targets: targets, classCount: labels.count, options: options)
        var temperature = 1.0
        var threshold: Double?
        if options.calibrationFolds >= 2, examples.count >= options.calibrationFolds * 4 {
            (temperature, threshold) = calibrate(features: features, targets: targets, classCount: labels.count,
                                                 outOfScope: outOfScopeLabel.flatMap { labelIndex[$0] }, options: options)
        }
        return IntentClassifier(labels: labels, vocabulary: model.vocabulary, weights: model.weights,
                                bias: model.bias, temperature: temperature, suggestedThreshold: threshold)
    }

    public func predict(_ features: [UInt64]) -> Prediction {
        let logits = Self.logits(SparseVector.binary(features, vocabulary: vocabulary), weights: weights,
                                 bias: bias, classCount: labels.count)
        let probabilities = Self.softmax(logits, temperature: temperature)
        let ranked = zip(labels, probabilities).sorted { $0.1 > $1.1 }.map { (label: $0.0, probability: $0.1) }
        return Prediction(ranked: ranked)
    }

    // MARK: - Training

    private struct Model {
        var vocabulary: Vocabulary
        var weights: [Float]
        var bias: [Float]
    }

    private static func fit(features: [[UInt64]], targets: [Int], classCount: Int, options: Options) -> Model {
        var vocabulary = Vocabulary()
        for example in features { for feature in example { _ = vocabulary.add(feature) } }
        let vectors = features.map { SparseVector.binary($0, vocabulary: vocabulary) }
        var weights = [Float](repeating: 0, count: vocabulary.count * classCount)
        var bias = [Float](repeating: 0, count: classCount)
        // Weight decay by a running scale factor (true weights = scale × stored), so an L2 step
        // costs O(1) instead of touching every weight.
        var scale: Float = 1
        var order = Array(vectors.indices)
        var random = DeterministicRandom(seed: options.seed)
        var step: Float = 0
        var probabilities = [Float](repeating: 0, count: classCount)
        for _ in 0..<options.epochs {
            random.shuffle(&order)
            for i in order {
                let rate = options.learningRate / (1 + options.learningRate * options.l2 * step)
                step += 1
                let x = vectors[i]
                for c in 0..<classCount { probabilities[c] = bias[c] }
                for (column, value) in zip(x.indices, x.values) {
                    let row = Int(column) * classCount
                    for c in 0..<classCount { probabilities[c] += scale * weights[row + c] * value }
                }
                softmaxInPlace(&probabilities)
                probabilities[targets[i]] -= 1   // now the gradient of the loss w.r.t. the logits
                scale *= 1 - rate * options.l2
                for (column, value) in zip(x.indices, x.values) {
                    let row = Int(column) * classCount
                    let factor = rate * value / scale
                    for c in 0..<classCount { weights[row + c] -= factor * probabilities[c] }
                }
                for c in 0..<classCount { bias[c] -= rate * 0.1 * probabilities[c] }
                if scale < 1e-3 {
                    for j in weights.indices { weights[j] *= scale }
                    scale = 1
                }
            }
        }
        for j in weights.indices { weights[j] *= scale }
        return Model(vocabulary: vocabulary, weights: weights, bias: bias)
    }

    /// Fits the softmax temperature that minimises the negative log-likelihood of out-of-fold
    /// predictions (the model's raw training-set confidence is over-optimistic), then the
    /// out-of-scope threshold that maximises out-of-fold accuracy.
    private static func calibrate(features: [[UInt64]], targets: [Int], classCount: Int, outOfScope: Int?,
                                  options: Options) -> (temperature: Double, threshold: Double?) {
        var order = Array(features.indices)
        var random = DeterministicRandom(seed: options.seed ^ 0xF01D)
        random.shuffle(&order)
        var outOfFold: [(logits: [Float], target: Int)] = []
        for fold in 0..<options.calibrationFolds {
            let heldOut = order.enumerated().filter { $0.offset % options.calibrationFolds == fold }.map(\.element)
            let heldOutSet = Set(heldOut)
            let trainIndices = order.filter { !heldOutSet.contains($0) }
            let model = fit(features: trainIndices.map { features[$0] }, targets: trainIndices.map { targets[$0] },
                            classCount: classCount, options: options)
            for i in heldOut {
                let x = SparseVector.binary(features[i], vocabulary: model.vocabulary)
                outOfFold.append((logits(x, weights: model.weights, bias: model.bias, classCount: classCount), targets[i]))
            }
        }
        var best = (temperature: 1.0, loss: Double.infinity)
        var temperature = 0.2
        while temperature <= 5.0 {
            var loss = 0.0
            for sample in outOfFold {
                let p = softmax(sample.logits, temperature: temperature)
                loss -= log(max(p[sample.target], 1e-12))
            }
            if loss < best.loss { best = (temperature, loss) }
            temperature += 0.05
        }
        guard let outOfScope else { return (best.temperature, nil) }
        let calibrated = outOfFold.map { (softmax($0.logits, temperature: best.temperature), $0.target) }
        var bestThreshold = (value: 0.5, accuracy: -1.0)
        // Ties go to the higher threshold: when accuracy is equal, refusing is the safer error.
        for step in 0...24 {
            let threshold = 0.2 + Double(step) * 0.025
            let correct = calibrated.filter { probabilities, target in
                let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
                return (probabilities[best] >= threshold ? best : outOfScope) == target
            }.count
            let accuracy = Double(correct) / Double(calibrated.count)
            if accuracy >= bestThreshold.accuracy { bestThreshold = (threshold, accuracy) }
        }
        return (best.temperature, bestThreshold.value)
    }

    // MARK: - Maths

    static func logits(_ x: SparseVector, weights: [Float], bias: [Float], classCount: Int) -> [Float] {
        var out = bias
        weights.withUnsafeBufferPointer { w in
            for (column, value) in zip(x.indices, x.values) {
                let row = Int(column) * classCount
                for c in 0..<classCount { out[c] += w[row + c] * value }
            }
        }
        return out
    }

    static func softmax(_ logits: [Float], temperature: Double) -> [Double] {
        let scaled = logits.map { Double($0) / temperature }
        let maximum = scaled.max() ?? 0
        let exps = scaled.map { exp($0 - maximum) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    private static func softmaxInPlace(_ values: inout [Float]) {
        let maximum = values.max() ?? 0
        var total: Float = 0
        for i in values.indices {
            values[i] = Foundation.exp(values[i] - maximum)
            total += values[i]
        }
        for i in values.indices { values[i] /= total }
    }
}

/// A small, fast, seedable generator (SplitMix64) for deterministic shuffles and demo data.
public struct DeterministicRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher–Yates with this generator (the standard library's shuffle may change algorithm).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            array.swapAt(i, j)
        }
    }
}
